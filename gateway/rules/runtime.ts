import type { ActuatorStateEvent, AlarmTransitionEvent, CommandEvent, CommandStatusEvent, DeviceStatusEvent, ReadingEvent } from '../core/events.js';
import { kindSpec, type Kind } from '../core/kinds.js';
import { ActionDispatcher } from './actions.js';
import { AlarmBook, type Alarm } from './alarms.js';
import { RULE_BOUNDS, type OnRefuse } from './bounds.js';
import { CommandTracker } from './commands.js';
import { RulesEngine, type Firing } from './engine.js';
import type { FactContext } from './facts.js';
import { DryRetries } from './held-back.js';
import { JobQueue } from './job-queue.js';
import { acknowledgeAlarm, forgetCleared, isOperatorClear } from './operator-clear.js';
import type { RuleSet } from './loader.js';
import { alarmTimesOf, DEFAULT_COMMAND_TIMES, warnAlarmWithoutRule, MAX_RULES_BACKLOG, type OnForget, type RuntimeOptions, type Wake } from './runtime-options.js';
import { SeriesStore } from './series.js';
import { ZoneState } from './state.js';
import { Wakeups } from './wakeups.js';
import { Watches } from './watches.js';

export { DEFAULT_COMMAND_TIMES, MAX_RULES_BACKLOG, type CommandSettings, type CommandTimes, type RuntimeObserver, type RuntimeOptions, type Wake } from './runtime-options.js';

/**
 * The rules path with no I/O: keeps what the rules know (zone state, windows, watches), runs
 * each current reading through the rules of its kind and each due timer through the rules it
 * wakes, one run at a time, and hands the resulting commands and alerts to `onOutcome`.
 * Everything reads `clock`, so a manual clock runs it in simulated time (scenarios, replay).
 */
export class RulesRuntime {
  readonly state: ZoneState;
  readonly series: SeriesStore;
  readonly watches: Watches;
  readonly wakeups: Wakeups<Wake>;
  readonly dispatcher: ActionDispatcher;
  readonly alarms: AlarmBook;
  readonly commands: CommandTracker;
  private engine: RulesEngine;
  /** What waits for the rules, in order: runs, timers, arming, and the readings behind a run. */
  private readonly queue = new JobQueue(
    (r) => this.judge(r),
    (err) => this.o.log.error({ err }, 'rules job failed'),
  );
  private dryRun = false;
  private readonly dryRetries = new DryRetries();
  private safetyKinds = new Set<Kind>();

  constructor(private readonly o: RuntimeOptions) {
    const times = o.commands ?? DEFAULT_COMMAND_TIMES;
    const bounds = { ...RULE_BOUNDS, ...o.bounds };
    const forgot: OnForget = (what, bound) => o.observer?.forgot?.(what, bound);
    const refused: OnRefuse = (what, bound) => o.observer?.refused?.(what, bound);
    this.state = new ZoneState(o.armedFile, bounds, forgot, refused);
    this.series = new SeriesStore(bounds, forgot);
    this.wakeups = new Wakeups<Wake>(o.clock, (_key, wake) => this.enqueue(() => this.wake(wake)));
    this.alarms = new AlarmBook({
      clock: o.clock,
      onTransition: (t, persist) => o.onAlarm?.(t, persist),
      schedule: (alarmId, at) => (at === undefined ? this.wakeups.cancel(`a|${alarmId}`) : this.wakeups.set(`a|${alarmId}`, at, { type: 'alarm', alarmId })),
      timesOf: (rule) => alarmTimesOf(rule, times, this.engine),
      bound: bounds.alarms,
      refused,
    });
    const actuators = { bound: bounds.actuators, forgot, refused };
    this.dispatcher = new ActionDispatcher(this.state, o.clock, this.alarms, o.commands?.expectedReport, { ...actuators, waits: (target) => this.commands.waiting(target) !== undefined });
    this.commands = new CommandTracker({
      clock: o.clock, log: o.log,
      ...times,
      dispatcher: this.dispatcher,
      alarms: this.alarms,
      schedule: (target, at) => (at === undefined ? this.wakeups.cancel(`c|${target}`) : this.wakeups.set(`c|${target}`, at, { type: 'confirm', target })),
      onStatus: (st) => o.onStatus?.(st),
      resend: (c, attempt) => o.resend?.(c, attempt),
      notify: (alert) => o.onOutcome(alert),
      command: (c) => o.onOutcome(c), ruleNamed: (name) => this.engine.rule(name), // an actuator put back after it came back (differing-report.ts)
      ...actuators,
    });
    this.watches = new Watches((spec, key, at, forgotten) => {
      if (forgotten) return this.wakeups.drop(`w|${spec.id}|${key}`);
      if (!this.engine.wakes(spec.id)) return;
      const wakeKey = `w|${spec.id}|${key}`;
      if (at === undefined) this.wakeups.cancel(wakeKey);
      else this.wakeups.set(wakeKey, at, { type: 'watch', watchId: spec.id, key });
    }, bounds, forgot);
    this.engine = new RulesEngine({ rules: [], actuators: {} });
    this.scratch = { reading: undefined as unknown as ReadingEvent, now: 0, state: this.state, series: this.series, watches: this.watches, actuator: this.actuatorData };
  }

  get rules(): RuleSet {
    return this.engine.set;
  }

  /** Puts a rule set in force; windows and watches the new rules share with the old keep their data. */
  use(set: RuleSet): void {
    this.engine = new RulesEngine(set, { onRoutesReset: (routes) => this.o.observer?.routesReset?.(routes) });
    this.safetyKinds = new Set(set.safetyKinds ?? []);
    this.series.configure(this.engine.windows);
    // A rebuild replays the readings itself; live, new watches start from the latest ones.
    this.watches.configure(this.engine.watches, this.o.clock.now(), this.dryRun ? undefined : () => this.state.latestReadings());
    this.dispatcher.usePolicies(set.actuators);
    for (const a of this.alarms.rulesChanged()) warnAlarmWithoutRule(a, this.o.log);
  }

  rulesFor(kind: Kind): number {
    return this.engine.rulesFor(kind);
  }

  /**
   * A rebuild in progress: stored events are replayed through the rules on a manual clock and nothing comes out (no command,
   * notification, alarm transition or saga step); what really happened is restored from the stored commands, statuses and transitions.
   */
  get dry(): boolean {
    return this.dryRun;
  }

  set dry(on: boolean) {
    this.dryRun = on;
    this.dispatcher.dry = on;
    this.alarms.dry = on;
    this.commands.dry = on;
  }

  /** After a rebuild: what ran out while away (quiet periods, confirmation times) acts now; with `rerunHeldBack`, so do held-back commands' re-runs the replay fired that left no trace (held-back.ts). */
  goLive(rerunHeldBack = false): void {
    this.dry = false;
    this.alarms.goLive();
    this.commands.goLive();
    for (const w of this.dryRetries.take((t) => this.dispatcher.current(t)?.changedAt)) if (rerunHeldBack && this.wakeups.deadline(`r|${w.target}`) === undefined) this.wakeups.set(`r|${w.target}`, this.o.clock.now(), w);
  }

  /** A current reading (not history): recorded, then run through its kind's rules, in arrival order. */
  onReading(r: ReadingEvent): void {
    if (this.queue.size === 0) {
      // Nothing before it waits: record and judge it now. Most readings fire nothing, and then
      // cost no promise and no queue at all (a run, if any, is queued: nothing comes back here).
      void this.judge(r);
      return;
    }
    if (this.queue.size >= MAX_RULES_BACKLOG) {
      this.record(r);
      this.o.observer?.overloaded?.();
      return;
    }
    // Behind a run: the reading itself waits in the queue (no closure, no promise), to be recorded and judged in its turn, so that it sees the state of its time.
    this.queue.push(r);
  }

  /**
   * Records a reading and judges it synchronously; only when some rule can fire (or an alarm of
   * its zone waits for a clear condition) is there a run: queued when nothing waits, else (the
   * reading's own turn in the queue) handed back to wait on.
   */
  private judge(r: ReadingEvent): Promise<void> | undefined {
    this.record(r);
    const clears = this.alarms.waitsInZone(r.site, r.zone);
    if (this.engine.rulesFor(r.kind) === 0 && !clears) return undefined;
    const now = this.o.clock.now();
    const engine = this.engine;
    // Judged with one reused context: a reading that fires nothing allocates none.
    const scratch = this.scratch;
    scratch.reading = r;
    scratch.now = now;
    const selected = engine.select(scratch);
    if (!selected && !clears) return undefined;
    const ctx = this.context(r, now);
    const run = (): Promise<void> => this.run(r, undefined, () => (selected ? engine.run(selected, ctx) : Promise.resolve([])), undefined, ctx);
    if (this.queue.size > 0) return run();
    this.queue.push(run);
    return undefined;
  }

  /** A device said it is offline or online: in turn with the readings before it (a device away is not silent, rules/watches.ts). */
  onDeviceStatus(s: DeviceStatusEvent): void {
    this.enqueue(() => this.watches.deviceStatus(s.device, s.online, s.timeMs));
  }

  /** What an actuator reported: confirms a command, or is a change by hand. */
  onActuatorState(r: ActuatorStateEvent): void {
    this.enqueue(async () => this.commands.report(r));
  }

  /** Stored events, during a rebuild (call between `idle()`s, in time order). */
  restore(item: { readonly type: 'command'; readonly event: CommandEvent } | { readonly type: 'commandStatus'; readonly event: CommandStatusEvent } | { readonly type: 'alarm'; readonly event: AlarmTransitionEvent }): void {
    if (item.type === 'commandStatus') return this.commands.restoreStatus(item.event);
    if (item.type === 'alarm') return void (this.alarms.restore(item.event), isOperatorClear(item.event) && forgetCleared(this, this.o.log, item.event, item.event.alarmId, true));
    this.dispatcher.restore(item.event);
    this.commands.sent(item.event);
  }

  /** An operator acknowledges an alarm; undefined when it is not known. A clear forgets the device the alarm names, in turn with the readings (operator-clear.ts). */
  acknowledge(alarmId: string, by: string, note: string | undefined, correlationId: string, clear = false): Alarm | undefined {
    return acknowledgeAlarm(this.alarms, { alarmId, by, note, correlationId, clear }, (a) => this.enqueue(() => forgetCleared(this, this.o.log, a, a.id, false)));
  }

  /**
   * A reading of a safety kind that is history (older than the device's latest, or stale): not
   * recorded as the current state, but judged by the rules when it arrives, in order with the rest.
   */
  onSafetyHistory(r: ReadingEvent): void {
    if (this.engine.rulesFor(r.kind) === 0) return;
    if (this.queue.size >= MAX_RULES_BACKLOG) {
      this.o.observer?.overloaded?.();
      return;
    }
    this.enqueue(() => this.run(r, undefined, (ctx) => this.engine.evaluate(ctx)));
  }

  /** Kinds judged whenever they arrive: the registry's safety kinds and those the packs mark. */
  isSafety(kind: Kind): boolean {
    return kindSpec(kind)?.safety === true || this.safetyKinds.has(kind);
  }

  private context(reading: ReadingEvent, now = this.o.clock.now()): FactContext {
    return { reading, now, state: this.state, series: this.series, watches: this.watches, actuator: this.actuatorData };
  }

  /** One function for every run's context (not a closure per reading). */
  private readonly actuatorData: FactContext['actuator'] = (site, zone, actuator) => this.dispatcher.actuatorData(site, zone, actuator);

  /** The context the synchronous judgement of a reading reuses (a run that goes to the engine gets its own). */
  private readonly scratch: { -readonly [K in keyof FactContext]: FactContext[K] };

  /** Arms or disarms a zone in turn with the readings before it, so each reading sees the state of its time. */
  setArmed(site: string, zone: string, armed: boolean): void {
    this.enqueue(() => this.state.setArmed(site, zone, armed));
  }

  /** Resolves when every reading and timer seen so far has been through the rules. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  async stop(): Promise<void> {
    this.wakeups.clear();
    await this.idle();
  }

  private record(r: ReadingEvent): void {
    this.state.update(r);
    this.series.record(r, this.o.clock.now());
    this.watches.record(r);
  }

  private enqueue(job: () => Promise<void> | void): void {
    this.queue.push(job);
  }

  private async wake(wake: Wake): Promise<void> {
    this.o.observer?.woke?.(wake.type);
    if (wake.type === 'alarm') return this.alarms.quiet(wake.alarmId);
    if (wake.type === 'confirm') return this.commands.timeout(wake.target);
    if (wake.type === 'watch') {
      const reading = this.watches.latest(wake.watchId, wake.key);
      if (reading) await this.run(reading, wake, (ctx) => this.engine.evaluateWatch(wake.watchId, ctx));
      return;
    }
    if (this.dryRun) this.dryRetries.record(wake, this.o.clock.now());
    const reading = this.state.deviceLatest(wake.source, wake.kind)?.reading;
    if (!reading) return;
    const { watchId } = wake;
    await this.run(reading, wake, (ctx) => (watchId === undefined ? this.engine.evaluate(ctx) : this.engine.evaluateWatch(watchId, ctx)), wake.target);
  }

  private async run(reading: ReadingEvent, wake: Wake | undefined, evaluate: (ctx: FactContext) => Promise<Firing[]>, only?: string, given?: FactContext): Promise<void> {
    const { observer, log } = this.o;
    try {
      const ctx = given ?? this.context(reading);
      const firings = await evaluate(ctx);
      if (firings.length > 0) {
        const { outcomes, suppressed } = this.dispatcher.dispatch(reading, firings, only);
        for (const f of firings) observer?.fired?.(f.rule.name);
        for (const s of suppressed) {
          observer?.suppressed?.(s);
          if (s.kind === 'min-on-off' || s.kind === 'manual-hold') {
            const watchId = wake?.type === 'watch' ? wake.watchId : wake?.type === 'retry' ? wake.watchId : undefined;
            this.wakeups.set(`r|${s.target}`, s.retryAt, { type: 'retry', target: s.target, source: reading.source, kind: reading.kind, watchId });
          }
        }
        if (!this.dryRun) observer?.ran?.(reading, wake, firings, outcomes, suppressed, ctx.now);
        for (const outcome of outcomes) {
          this.o.onOutcome(outcome);
          if (outcome.kind === 'command') this.commands.sent(outcome);
        }
      }
      if (!wake && this.alarms.waitsInZone(reading.site, reading.zone)) await this.clears(reading, firings, ctx);
    } catch (err) {
      observer?.failed?.();
      log.error({ err, eventId: reading.id, source: reading.source, wake: wake?.type }, 'rule evaluation failed');
    }
  }

  /** Alarms of the reading's zone that a clear condition ends: checked when their rule did not fire for it. */
  private async clears(reading: ReadingEvent, firings: readonly Firing[], ctx: FactContext): Promise<void> {
    for (const a of this.alarms.explicitIn(reading.site, reading.zone)) {
      const rule = this.engine.rule(a.rule);
      if (!rule || !this.engine.hasClear(a.rule)) continue;
      if (rule.kinds.length > 0 && !rule.kinds.includes(reading.kind)) continue;
      if (a.device !== undefined && a.device !== reading.device) continue;
      if (firings.some((f) => f.rule.name === a.rule)) continue;
      if (await this.engine.clears(a.rule, ctx)) this.alarms.clear(a, `clear condition met by ${reading.device} (${String(reading.value)})`, reading.id);
    }
  }
}
