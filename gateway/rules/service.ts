import type { IncomingMessage, ServerResponse } from 'node:http';
import { logError } from '../core/errors.js';
import type { Logger } from 'pino';
import type { Publisher } from '../core/publisher.js';
import type { EventBus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import { newEventId } from '../core/ids.js';
import { LogLimiter } from '../observability/log.js';
import type { AlarmAckEvent, ReadingEvent, ZoneArmedEvent } from '../core/events.js';
import type { AlarmDirectory } from '../core/directory.js';
import type { History } from '../core/history.js';
import { ReplayClock } from '../core/replay-clock.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../core/store.js';
import { SEGMENT } from '../core/segments.js';
import { memoryReporter } from './bounds.js';
import type { Suppression } from './actions.js';
import { HeldBackReporter, type HeldBack, type Lost } from './held-back.js';
import { RuleLoader, type RuleSet } from './loader.js';
import { RuleOutputs } from './outputs.js';
import { rebuild, type RebuildOptions, type RebuildResult } from './rebuild.js';
import { RuleStateFile } from './state-file.js';
import { DEFAULT_COMMAND_TIMES, RulesRuntime, type CommandSettings } from './runtime.js';
import { TraceLog, traceOf, type Trace } from './trace.js';
import { actuatorViews, alarmViews, type ActuatorView, type AlarmView } from './views.js';

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
  /** Where armed zones, the rules' local snapshot (rules/state-file.ts) and the last good version of each pack (rules/kept-packs.ts) are kept across restarts. */
  readonly armedFile?: string;
  readonly stateFile?: string;
  readonly keptPacksDir?: string;
  /** Every command held back by a minimum on/off time, once per hold; every firing that lost its actuator to another rule (scenarios list them). */
  readonly onHeld?: (h: HeldBack) => void;
  readonly onLost?: (l: Lost & { readonly at: number }) => void;
  /** The stored events (the rebuild at start, the trace of older chains). */
  readonly history?: History;
  /** COMMAND_CONFIRM_MS, COMMAND_RETRIES, MANUAL_HOLD_MS; what confirms a command to a native device. */
  readonly commands?: CommandSettings;
  /** REBUILD_WAIT_MS: how long the rebuild waits for the spool to drain. */
  readonly rebuildWaitMs?: number;
  /** COMMAND_STORE_WAIT_MS (0 with DURABLE_ACK=false): how long an output waits to be on disk before it goes out. */
  readonly storeWaitMs?: number;
  /** A cluster node: readings are ruled by their partitions' owners (cluster/), not from this bus; the packs are handed on (`onRules`). */
  readonly partitioned?: boolean;
}

export type { ActuatorView } from './views.js';

/**
 * The rules feature: feeds current readings and armed zones to the rules runtime, and
 * publishes, stores and announces the commands and alerts that result.
 */
export class RulesService {
  readonly loader: RuleLoader;
  readonly runtime: RulesRuntime;
  readonly trace = new TraceLog();
  /** The rules' clock: manual while they rebuild, the gateway's after. */
  readonly clock: ReplayClock;
  private readonly unsubscribe: (() => void)[] = [];
  /** Lines said at most once a minute (per key): overload, route cache resets. */
  private readonly rareLog: LogLimiter;
  private rebuilt: RebuildResult | undefined;
  /** Counts and says what the rules forget or refuse past their bounds (rules/bounds.ts; here or in a cluster's partition owners). */
  readonly memory: ReturnType<typeof memoryReporter>;
  private readonly ruleListeners: ((set: RuleSet) => void)[] = [];
  /** Where commands, alerts, alarm transitions and saga steps go (a cluster's owners send theirs the same way). */
  readonly outputs: RuleOutputs;
  private readonly held: HeldBackReporter;
  /** A single gateway's local snapshot of its rules' state: read at a start that cannot read the history. */
  private readonly stateFile: RuleStateFile | undefined;

  constructor(private readonly o: RulesServiceOptions) {
    const { metrics } = o;
    this.rareLog = new LogLimiter(o.log, 1, 60_000);
    this.memory = memoryReporter(metrics, o.log.child({ component: 'rules' }));
    this.clock = new ReplayClock(o.clock);
    this.outputs = new RuleOutputs({ publisher: o.publisher, store: o.store, metrics, bus: o.bus, log: o.log, trace: this.trace, storeWaitMs: o.storeWaitMs });
    const outputs = this.outputs;
    this.held = new HeldBackReporter(o.log.child({ component: 'rules' }), this.clock, o.onHeld, o.onLost);
    metrics.readFrom('ruleFilesRejected', () => this.loader.problems.size);
    // A cluster node's runtime here rules nothing: its partition owners report these (cluster/partition-worker.ts).
    if (!o.partitioned) {
      metrics.readFrom('ruleTimers', () => this.runtime.wakeups.size);
      metrics.readFrom('ruleWindowSeries', () => this.runtime.series.seriesCount);
      metrics.readFrom('alarmsActive', () => this.runtime.alarms.size);
      metrics.readFrom('commandsPending', () => this.runtime.commands.pending);
    }
    this.runtime = new RulesRuntime({
      clock: this.clock,
      log: o.log.child({ component: 'rules' }),
      armedFile: o.armedFile,
      commands: o.commands ?? DEFAULT_COMMAND_TIMES,
      // A failed publish is logged by the outputs; the rules go on.
      onOutcome: (outcome) => void outputs.outcome(outcome).catch(() => undefined),
      onAlarm: (t, persist) => outputs.alarm(t, persist),
      onStatus: (st) => outputs.status(st),
      resend: (c, attempt) => void outputs.resend(c, attempt).catch(() => undefined),
      observer: {
        ran: (reading, wake, firings, outcomes, suppressed, at) => this.trace.ran(reading, wake, firings, suppressed, at, outcomes.length),
        // A rebuild's dry run replays firings that were counted when they happened (by an earlier process).
        fired: (rule) => {
          if (!this.runtime.dry) metrics.ruleFirings.inc({ rule });
        },
        suppressed: (s) => {
          if (!this.runtime.dry) this.suppressed(s);
        },
        woke: (type) => {
          if (!this.runtime.dry) metrics.ruleWakeups.inc({ type });
        },
        failed: () => metrics.ruleErrors.inc(),
        routesReset: (routes) => this.routesReset(routes),
        ...this.memory,
        overloaded: () => {
          metrics.rulesOverloaded.inc();
          if (this.rareLog.allow('rules overloaded')) logError(o.log, 'GW_ERR_RULES_OVERLOADED', {}, 'the rules are too far behind: readings are stored but not ruled until they catch up');
        },
      },
    });
    this.stateFile = o.stateFile && !o.partitioned ? new RuleStateFile({ file: o.stateFile, runtime: this.runtime, bus: o.bus, clock: o.clock, log: o.log.child({ component: 'rules' }) }) : undefined;
    this.loader = new RuleLoader({
      dir: o.rulesDir,
      log: o.log.child({ component: 'rules' }),
      files: o.ruleFiles,
      watch: o.watchRules,
      keptDir: o.keptPacksDir,
      onChange: (set) => {
        this.runtime.use(set);
        for (const listener of this.ruleListeners) listener(set);
        o.log.info({ rules: set.rules.length }, 'rules in force');
      },
      onResult: (result) => metrics.ruleReloads.inc({ result }),
    });
  }

  get state(): RulesRuntime['state'] {
    return this.runtime.state;
  }

  /** The rules' cache of which rules serve which device filled and was started afresh (here, or in a cluster's partition owner): counted, said at most once a minute. */
  routesReset(routes: number): void {
    this.o.metrics.ruleRoutesReset.inc();
    if (this.rareLog.allow('rule routes reset')) this.o.log.warn({ component: 'rules', routes }, `the rules' cache of which rules serve which device filled (${routes} devices and kinds since the rules were loaded) and was started afresh: that many devices, or made-up device ids (gateway_rule_routes_reset_total)`);
  }

  /** A live firing that changed nothing (here, or in a cluster's partition owner): counted by actuator; a hold said once. */
  suppressed(s: Suppression): void {
    // `site/zone/actuator` (segments hold no '/'): the last segment, without splitting per suppression.
    const actuator = s.target.slice(s.target.lastIndexOf('/') + 1);
    const { metrics } = this.o;
    if (s.kind === 'already-in-state') metrics.commandsSuppressed.inc({ actuator });
    if (s.kind === 'min-on-off') metrics.commandsDeferred.inc({ actuator });
    this.held.report(s);
    if (s.kind === 'manual-hold') metrics.commandsHeld.inc({ actuator });
  }

  /** Called with each rule set put in force from now on. */
  onRules(listener: (set: RuleSet) => void): void {
    this.ruleListeners.push(listener);
  }

  /** Loads the armed zones and the rules; readings are taken from here on (the broker listens later). */
  async start(): Promise<void> {
    const unread = await this.state.load();
    if (unread !== undefined) logError(this.o.log, 'GW_ERR_DATA_DIR', { err: unread, file: this.o.armedFile }, 'the armed-zones file cannot be read: the zones armed in it start disarmed until the history (or an operator) says otherwise');
    await this.loader.start();
    if (this.o.partitioned) return;
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
      this.o.bus.on('actuatorState', (r) => this.runtime.onActuatorState(r)),
      // A device that said offline is not reported silent by `absent` (scope device) until it speaks again.
      this.o.bus.on('deviceStatus', (st) => this.runtime.onDeviceStatus(st)),
      this.o.bus.on('alarmAck', (a) => void this.acknowledge(a)),
    );
  }

  /**
   * Rebuilds what the rules knew from the stored history (rules/rebuild.ts), then goes live (a history that cannot be read:
   * from the local snapshot, if any, and the armed-zones file). In time order, `onDevice` sees every device status and silence
   * read (live page, silence watch); `onReading` every reading (a resend is a duplicate); `onReport` every actuator report.
   */
  async rebuild(seen: Pick<RebuildOptions, 'onDevice' | 'onReading' | 'onReport'> = {}): Promise<RebuildResult | undefined> {
    const { history } = this.o;
    if (!history) {
      this.clock.goLive();
      return undefined;
    }
    this.rebuilt = await rebuild({
      history,
      runtime: this.runtime,
      clock: this.clock,
      now: () => this.o.clock.now(),
      log: this.o.log.child({ component: 'rules' }),
      waitMs: this.o.rebuildWaitMs ?? 15_000,
      commandTimes: this.o.commands ?? DEFAULT_COMMAND_TIMES,
      ...(this.stateFile ? { snapshot: this.stateFile.read } : {}),
      ...seen,
    });
    this.o.metrics.rebuildSeconds.set(this.rebuilt.tookMs / 1000);
    this.stateFile?.start();
    return this.rebuilt;
  }

  /** What the rebuild at start did (undefined: none was asked for). */
  get rebuildResult(): RebuildResult | undefined {
    return this.rebuilt;
  }

  /** The alarm directory ingest checks acknowledgements against. */
  readonly alarmDirectory: AlarmDirectory = { knows: (id, site) => this.runtime.alarms.knows(id, site) };

  /** Acknowledges an alarm (MQTT or HTTP); undefined when it is not known. */
  acknowledge(a: Pick<AlarmAckEvent, 'alarmId' | 'by' | 'note' | 'id' | 'clear'>): AlarmView | undefined {
    const alarm = this.runtime.acknowledge(a.alarmId, a.by, a.note, a.id, a.clear);
    if (alarm) this.o.log.info({ alarmId: a.alarmId, by: a.by, rule: alarm.rule, cleared: a.clear === true }, a.clear ? 'alarm acknowledged and cleared' : 'alarm acknowledged');
    return alarm && this.runtime.alarms.view(alarm);
  }

  /** Active alarms, most severe and most recent first. */
  alarms(): AlarmView[] {
    return alarmViews(this.runtime);
  }

  alarm(id: string): AlarmView | undefined {
    const a = this.runtime.alarms.get(id);
    return a && this.runtime.alarms.view(a);
  }

  /** Every actuator the rules know of, with what it reported and how its commands fare. */
  actuators(): ActuatorView[] {
    return actuatorViews(this.runtime);
  }

  /** The latest reading of each device and kind the rules know (the live page starts from them). */
  latestReadings(): ReadingEvent[] {
    return this.runtime.state.latestReadings();
  }

  /** The chain of a reading, command or alarm (recent ones from memory, older ones from InfluxDB). */
  traceOf(id: string): Promise<Trace> {
    return traceOf(id, this.trace, this.o.history);
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribe) off();
    await this.loader.stop();
    await this.stateFile?.stop();
    await this.runtime.stop().then(() => this.outputs.settled());
  }

  /** The kinds in force changed (the device map added or dropped some): packs rejected for an unknown kind are read again, every rule indexed again. */
  async kindsChanged(): Promise<void> {
    await this.loader.reload(true);
    this.runtime.use(this.loader.ruleSet);
  }

  /** Resolves when every reading seen so far has been through the rules. */
  idle(): Promise<void> {
    return this.runtime.idle();
  }

  actuatorState(site: string, zone: string, actuator: string): string | undefined {
    return this.runtime.dispatcher.actuatorState(site, zone, actuator);
  }

  /** Arms or disarms a zone from code, as `zones/<site>/<zone>/armed` does: stored in `zone_state`, logged, in force for the next reading. */
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
}
