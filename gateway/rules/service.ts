import type { IncomingMessage, ServerResponse } from 'node:http';
import { logError } from '../core/errors.js';
import type { Logger } from 'pino';
import type { Publisher } from '../core/publisher.js';
import type { EventBus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import { newEventId } from '../core/ids.js';
import { LogLimiter } from '../observability/log.js';
import type { ZoneArmedEvent } from '../core/events.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../core/store.js';
import { SEGMENT } from '../core/segments.js';
import type { Outcome } from './actions.js';
import { HeldBackReporter, type HeldBack } from './held-back.js';
import { RuleLoader } from './loader.js';
import { RulesRuntime } from './runtime.js';
import type { ZoneState } from './state.js';

export interface RulesServiceOptions {
  readonly bus: EventBus;
  readonly publisher: Publisher;
  readonly store: Store;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly clock: Clock;
  readonly rulesDir: string;
  /** Only these pack files of rulesDir (scenarios, replays); default every `*.json`. */
  readonly ruleFiles?: readonly string[];
  /** Reload packs when they change (default true). */
  readonly watchRules?: boolean;
  /** Where armed zones are remembered across restarts. */
  readonly armedFile?: string;
  /** Every command held back by a minimum on/off time, once per hold (scenarios list them). */
  readonly onHeld?: (h: HeldBack) => void;
}

/**
 * The rules feature: feeds current readings and armed zones to the rules runtime, and
 * publishes, stores and announces the commands and alerts that result.
 */
export class RulesService {
  readonly loader: RuleLoader;
  readonly runtime: RulesRuntime;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly overloadLog: LogLimiter;

  constructor(private readonly o: RulesServiceOptions) {
    const { metrics } = o;
    this.overloadLog = new LogLimiter(o.log, 1, 60_000);
    const held = new HeldBackReporter(o.log.child({ component: 'rules' }), o.clock, o.onHeld);
    metrics.readFrom('ruleTimers', () => this.runtime.wakeups.size);
    metrics.readFrom('ruleWindowSeries', () => this.runtime.series.seriesCount);
    metrics.readFrom('ruleFilesRejected', () => this.loader.problems.size);
    this.runtime = new RulesRuntime({
      clock: o.clock,
      log: o.log.child({ component: 'rules' }),
      armedFile: o.armedFile,
      onOutcome: (outcome) => this.emit(outcome),
      observer: {
        fired: (rule) => metrics.ruleFirings.inc({ rule }),
        suppressed: (s) => {
          const actuator = s.target.split('/')[2] ?? '';
          if (s.kind === 'already-in-state') metrics.commandsSuppressed.inc({ actuator });
          if (s.kind === 'min-on-off') {
            metrics.commandsDeferred.inc({ actuator });
            held.report(s);
          }
        },
        woke: (type) => metrics.ruleWakeups.inc({ type }),
        failed: () => metrics.ruleErrors.inc(),
        overloaded: () => {
          metrics.rulesOverloaded.inc();
          if (this.overloadLog.allow('rules overloaded')) logError(o.log, 'GW_ERR_RULES_OVERLOADED', {}, 'the rules are too far behind: readings are stored but not ruled until they catch up');
        },
      },
    });
    this.loader = new RuleLoader({
      dir: o.rulesDir,
      log: o.log.child({ component: 'rules' }),
      files: o.ruleFiles,
      watch: o.watchRules,
      onChange: (set) => {
        this.runtime.use(set);
        o.log.info({ rules: set.rules.length }, 'rules in force');
      },
      onResult: (result) => metrics.ruleReloads.inc({ result }),
    });
  }

  get state(): ZoneState {
    return this.runtime.state;
  }

  async start(): Promise<void> {
    await this.state.load();
    await this.loader.start();
    this.unsubscribe.push(
      this.o.bus.on('reading', (r) => this.runtime.onReading(r)),
      // Safety kinds are judged whenever they arrive, even as history (a smoke alarm a device buffered).
      this.o.bus.on('history', (r) => {
        if (this.runtime.isSafety(r.kind)) this.runtime.onSafetyHistory(r);
      }),
      this.o.bus.on('zoneArmed', (z) => {
        this.o.log.info({ eventId: z.id, site: z.site, zone: z.zone, armed: z.armed }, z.armed ? 'zone armed' : 'zone disarmed');
        this.runtime.setArmed(z.site, z.zone, z.armed);
      }),
    );
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribe) off();
    await this.loader.stop();
    await this.runtime.stop();
  }

  /** Resolves when every reading seen so far has been through the rules. */
  idle(): Promise<void> {
    return this.runtime.idle();
  }

  actuatorState(site: string, zone: string, actuator: string): string | undefined {
    return this.runtime.dispatcher.actuatorState(site, zone, actuator);
  }

  /**
   * Arms or disarms a zone from code, as `zones/<site>/<zone>/armed` does: stored in
   * `zone_state`, logged, and in force for the next reading.
   */
  setArmed(site: string, zone: string, armed: boolean): ZoneArmedEvent {
    if (!SEGMENT.test(site) || !SEGMENT.test(zone)) throw new RangeError(`site and zone must match ${String(SEGMENT)} (got ${JSON.stringify(site)}, ${JSON.stringify(zone)})`);
    const timeMs = this.o.clock.now();
    const event: ZoneArmedEvent = { id: newEventId(), site, zone, armed, time: new Date(timeMs).toISOString(), timeMs };
    this.o.store.keep('zoneArmed', event, true);
    this.o.bus.emit('zoneArmed', event);
    return event;
  }

  /** `GET /api/zones`: the armed state of every zone that has one. */
  readonly zonesRoute = (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ zones: this.state.armedStates() }));
  };

  private emit(outcome: Outcome): void {
    const { publisher, store, metrics, bus, log } = this.o;
    const payload = JSON.stringify(outcome.cloudEvent);
    const ids = { eventId: outcome.id, correlationId: outcome.cloudEvent.correlationid, rule: outcome.rule };
    // Commands are few and must be recorded even with the spool full.
    if (outcome.kind === 'command') store.keep('command', outcome, true);
    else store.keep('alert', outcome, true);
    if (outcome.kind === 'command') {
      metrics.commands.inc({ actuator: outcome.actuator });
      bus.emit('command', outcome);
      log.info({ ...ids, topic: outcome.topic, data: outcome.cloudEvent.data }, 'command');
    } else {
      metrics.alerts.inc({ severity: outcome.severity });
      bus.emit('alert', outcome);
      log.warn({ ...ids, topic: outcome.topic, message: outcome.cloudEvent.data.message }, 'alert');
    }
    publisher.publish(outcome.topic, payload, 1).catch((err: unknown) => log.error({ err, ...ids }, 'could not publish'));
  }
}
