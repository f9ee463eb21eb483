import { pino, type Logger } from 'pino';
import type { Publisher } from '../core/publisher.js';
import type { Store } from '../core/store.js';
import { EventBus } from '../core/bus.js';
import type { ReadingEvent } from '../core/events.js';
import { Metrics } from '../observability/metrics.js';
import { Ingest } from '../ingest/ingest.js';
import { ManualClock } from '../core/manual-clock.js';
import type { HeldBack, Lost } from '../rules/held-back.js';
import { RulesService } from '../rules/service.js';

/** What came out of the rules (or the ingest) in a sandbox, at the simulated time it did. */
export interface SandboxOutput {
  readonly at: number;
  readonly topic: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

/** A reading as the sandbox saw it: `current` ones ran through the rules, history did not. */
export interface SandboxReading {
  readonly at: number;
  readonly event: ReadingEvent;
  readonly current: boolean;
}

export interface SandboxOptions {
  readonly rulesDir: string;
  /** Only these packs of rulesDir (default: every `*.json` there). */
  readonly ruleFiles?: readonly string[];
  /** Simulated time at the start (epoch ms). */
  readonly startMs: number;
  readonly log?: Logger;
  /** As the gateway's STALE_AFTER_MS. */
  readonly staleAfterMs?: number;
  /** Keep every reading seen in `readings`, and every firing that lost its actuator in `lost` (scenarios show them; a long replay does not). */
  readonly keepReadings?: boolean;
}

/**
 * The gateway's real rules path — ingest (validation, history, dead letters), the rules
 * service and its runtime — on a manual clock with nothing on the network: what it would
 * publish is recorded instead, and nothing is stored. Rule scenarios and replays run in it;
 * minutes of simulated time take milliseconds.
 */
export class RulesSandbox {
  private nextOutput = 0;

  private constructor(
    readonly service: RulesService,
    private readonly ingest: Ingest,
    private readonly bus: EventBus,
    readonly clock: ManualClock,
    /** Everything published (commands, alerts, dead letters), in order. */
    readonly outputs: SandboxOutput[],
    readonly readings: SandboxReading[],
    /** Commands held back by a minimum on/off time, once per hold. */
    readonly held: HeldBack[],
    /** Firings whose command lost the actuator to another rule's, at the time they fired. */
    readonly lost: (Lost & { readonly at: number })[],
  ) {}

  static async create(o: SandboxOptions): Promise<RulesSandbox> {
    const log = o.log ?? pino({ level: 'silent' });
    const clock = new ManualClock(o.startMs);
    // A dry run: events are "kept" nowhere.
    const store: Store = { keep: () => true, committed: () => Promise.resolve(), written: () => Promise.resolve(), whenSpace: () => Promise.resolve(), isFull: () => false, isOpen: true };
    const bus = new EventBus(log);
    const metrics = new Metrics({ spool: () => ({ bytes: 0, events: 0, oldestAppendedAt: undefined }), connectedClients: () => 0, influxUp: () => true, now: () => clock.now() });
    const outputs: SandboxOutput[] = [];
    const readings: SandboxReading[] = [];
    const publisher: Publisher = {
      publish: (topic, payload) => {
        outputs.push({ at: clock.now(), topic, payload: JSON.parse(payload) as Record<string, unknown> });
        return Promise.resolve();
      },
    };
    const ingest = new Ingest({ store, bus, metrics, publisher, clock, log, maxPayloadBytes: 65536, staleAfterMs: o.staleAfterMs ?? 300_000, durableAck: false });
    const held: HeldBack[] = [];
    const lost: (Lost & { readonly at: number })[] = [];
    const service = new RulesService({ bus, publisher, store, metrics, log, clock, rulesDir: o.rulesDir, ruleFiles: o.ruleFiles, watchRules: false, onHeld: (h) => held.push(h), ...(o.keepReadings !== false ? { onLost: (l) => void lost.push(l) } : {}) });
    if (o.keepReadings !== false) {
      const keep = (current: boolean) => (event: ReadingEvent) => void readings.push({ at: clock.now(), event, current });
      bus.on('reading', keep(true));
      bus.on('history', keep(false));
    }
    await service.start();
    return new RulesSandbox(service, ingest, bus, clock, outputs, readings, held, lost);
  }

  /** Problems with the rule files (each names the file, the rule and what is wrong). */
  get ruleProblems(): string[] {
    return [...this.service.loader.problems.values()];
  }

  /** A device publishes (QoS 0), at the clock's time; returns once the rules have run. */
  async send(topic: string, payload: string): Promise<void> {
    await this.ingest.handle(`sandbox`, { topic, payload: Buffer.from(payload), qos: 0, dup: false });
    await this.service.idle();
  }

  /** A stored reading, straight to the rules as a current one (replays: already validated). */
  async feed(reading: ReadingEvent): Promise<void> {
    this.bus.emit('reading', reading);
    await this.service.idle();
  }

  /** Moves the clock to `ms`, firing the rules' timers due on the way, each at its time. */
  async advanceTo(ms: number): Promise<void> {
    await this.service.idle();
    while (this.clock.fireNext(ms)) await this.service.idle();
    this.clock.advanceTo(ms);
  }

  /** Outputs since the last call. */
  takeOutputs(): SandboxOutput[] {
    const out = this.outputs.slice(this.nextOutput);
    this.nextOutput = this.outputs.length;
    return out;
  }

  async stop(): Promise<void> {
    await this.service.stop();
  }
}
