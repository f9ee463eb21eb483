import type { Logger } from 'pino';
import type { EventBus } from '../core/bus.js';
import type { AlarmTransitionEvent, CommandEvent, CommandStatusEvent } from '../core/events.js';
import type { Publisher } from '../core/publisher.js';
import type { Store } from '../core/store.js';
import { LogLimiter } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { Outcome } from './actions.js';
import type { TraceLog } from './trace.js';

/**
 * Everything a rules runtime hands out (runtime.ts: `onOutcome`, `onAlarm`, `onStatus`, `resend`),
 * as one value: a cluster's partition owner commits these to Redis before they go out
 * (cluster/partition-worker.ts's outbox) and sends them on exactly as a single gateway does.
 */
export type RuleOutput =
  | { readonly type: 'outcome'; readonly outcome: Outcome }
  | { readonly type: 'alarm'; readonly event: AlarmTransitionEvent; readonly persist: boolean }
  | { readonly type: 'status'; readonly event: CommandStatusEvent }
  | { readonly type: 'resend'; readonly command: CommandEvent; readonly attempt: number };

/** A key unique to one output (the outbox's field). */
export function outputKey(o: RuleOutput): string {
  switch (o.type) {
    case 'outcome':
      return o.outcome.id;
    case 'alarm':
    case 'status':
      return o.event.id;
    case 'resend':
      return `${o.command.id}#${o.attempt}`;
  }
}

export interface RuleOutputsOptions {
  readonly publisher: Publisher;
  readonly store: Store;
  readonly metrics: Metrics;
  readonly bus: EventBus;
  readonly log: Logger;
  readonly trace?: TraceLog;
  /**
   * COMMAND_STORE_WAIT_MS: how long a command or alert waits for its record (and so its cause's,
   * kept before it) to be on disk before it goes out anyway; 0 = it does not wait (DURABLE_ACK=false).
   */
  readonly storeWaitMs?: number;
}

const idsOf = (o: Outcome) => ({ eventId: o.id, correlationId: o.cloudEvent.correlationid, rule: o.rule });

/**
 * Sends the rules' outputs on: commands and alerts are stored, announced (a native actuator's
 * firmware command comes from the announcement, devices/), logged and published; alarm
 * transitions and saga steps are stored and announced; a resend is published again.
 */
export class RuleOutputs {
  /** The last commit waited on, and the wait for it: one timer a commit group, not one a command. */
  private lastCommit: Promise<void> | undefined;
  private lastWait: Promise<boolean> = Promise.resolve(true);
  /** Publishes under way (most waiting for the spool's commit): a stop lets them finish before the broker closes. */
  private readonly pending = new Set<Promise<void>>();
  /** A disk that refuses writes makes every output unstored: one line per kind every 10 s, with the count left out. */
  private readonly unstoredLog: LogLimiter;

  constructor(private readonly o: RuleOutputsOptions) {
    this.unstoredLog = new LogLimiter(o.log, 1, 10_000);
  }

  /**
   * Resolves once what was kept so far is written to the spool file (true), or when the wait is
   * over (false): a device must not act on a command the gateway could forget in a crash (a
   * restart would not know what it commanded, and the reading that caused it was not
   * acknowledged), but a disk that refuses writes must not silence a smoke alarm either. Written,
   * not synced: that survives the gateway being killed, and the fdatasync would cost the command
   * milliseconds (bench/README.md); a power cut may lose the last group, command and reading alike
   * (the reading's QoS 1 acknowledgement still waits for the fdatasync, so its device sends it again).
   */
  private onDisk(): Promise<boolean> {
    const waitMs = this.o.storeWaitMs ?? 0;
    if (waitMs <= 0) return Promise.resolve(true);
    const committed = this.o.store.written();
    if (committed === this.lastCommit) return this.lastWait;
    this.lastCommit = committed;
    this.lastWait = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        // A group the disk keeps refusing stays the same promise while it is retried: an output
        // kept after this one gave up gets a wait of its own, not this one's end.
        if (this.lastCommit === committed) this.lastCommit = undefined;
        resolve(false);
      }, waitMs);
      const done = (ok: boolean) => () => {
        clearTimeout(timer);
        resolve(ok);
      };
      committed.then(done(true), done(false));
    });
    return this.lastWait;
  }

  /** Sends one output; resolves once what it publishes is published (rejects, after logging it, if not). */
  send(out: RuleOutput): Promise<void> {
    switch (out.type) {
      case 'outcome':
        return this.outcome(out.outcome);
      case 'alarm':
        this.alarm(out.event, out.persist);
        return Promise.resolve();
      case 'status':
        this.status(out.event);
        return Promise.resolve();
      case 'resend':
        return this.resend(out.command, out.attempt);
    }
  }

  outcome(outcome: Outcome): Promise<void> {
    const { store, trace } = this.o;
    trace?.outcome(outcome);
    // Commands are few and must be recorded even with the spool full.
    if (outcome.kind === 'command') store.keep('command', outcome, true);
    else store.keep('alert', outcome, true);
    // Announced (a native actuator's command comes from the announcement) and published once on disk.
    return this.track(this.onDisk().then((stored) => this.publish(outcome, stored)));
  }

  /**
   * Resolves once every publish started so far is done (each waits at most COMMAND_STORE_WAIT_MS
   * for the disk): the rules' stop waits for it, and the gateway closes the broker only after, so
   * a command for an actuator away is queued for it (and kept in the broker's last snapshot).
   */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private track(publishing: Promise<void>): Promise<void> {
    this.pending.add(publishing);
    const done = (): void => void this.pending.delete(publishing);
    publishing.then(done, done);
    return publishing;
  }

  private publish(outcome: Outcome, stored: boolean): Promise<void> {
    const { publisher, metrics, bus, log } = this.o;
    if (!stored) {
      metrics.outputsUnstored.inc({ kind: outcome.kind });
      const suppressed = this.unstoredLog.admit(outcome.kind);
      if (suppressed !== false) log.warn({ ...idsOf(outcome), waitedMs: this.o.storeWaitMs, suppressed }, `${outcome.kind} published before it was on disk: the spool did not commit within COMMAND_STORE_WAIT_MS${suppressed > 0 ? ` (${suppressed} more since the last line)` : ''}`);
    }
    const payload = JSON.stringify(outcome.cloudEvent);
    if (outcome.kind === 'command') {
      metrics.commands.inc({ actuator: outcome.actuator });
      bus.emit('command', outcome);
      // Every command passes here: its line's object is built only when info lines are written.
      if (log.isLevelEnabled('info')) log.info({ ...idsOf(outcome), topic: outcome.topic, data: outcome.cloudEvent.data }, 'command');
    } else {
      metrics.alerts.inc({ severity: outcome.severity });
      bus.emit('alert', outcome);
      log.warn({ ...idsOf(outcome), topic: outcome.topic, message: outcome.cloudEvent.data.message }, 'alert');
    }
    return publisher.publish(outcome.topic, payload, 1).catch((err: unknown) => {
      log.error({ err, ...idsOf(outcome) }, 'could not publish');
      throw err;
    });
  }

  alarm(t: AlarmTransitionEvent, persist: boolean): void {
    const { store, bus, metrics, log, trace } = this.o;
    if (persist) store.keep('alarm', t, true);
    metrics.alarmTransitions.inc({ transition: t.transition, severity: t.severity });
    trace?.alarm(t, persist);
    bus.emit('alarm', t);
    if (t.transition !== 'updated') log.info({ eventId: t.id, alarmId: t.alarmId, correlationId: t.correlationId, rule: t.rule, site: t.site, zone: t.zone, count: t.count, reason: t.reason }, `alarm ${t.transition}`);
  }

  status(st: CommandStatusEvent): void {
    const { store, bus, metrics, log, trace } = this.o;
    store.keep('commandStatus', st, true);
    metrics.commandStatuses.inc({ status: st.status });
    trace?.status(st);
    bus.emit('commandStatus', st);
    if (st.status !== 'sent' && st.status !== 'confirmed') log.warn({ eventId: st.id, commandId: st.commandId, correlationId: st.correlationId, status: st.status, attempt: st.attempt, detail: st.detail, target: `${st.site}/${st.zone}/${st.actuator}` }, `command ${st.status}`);
  }

  /**
   * A saga's retry: the same CloudEvent again (same id, so a device can tell it is a resend), and
   * announced again so a native actuator gets its firmware's command again too.
   */
  resend(c: CommandEvent, attempt: number): Promise<void> {
    const { publisher, log, bus } = this.o;
    bus.emit('command', c);
    return this.track(
      publisher.publish(c.topic, JSON.stringify(c.cloudEvent), 1).catch((err: unknown) => {
        log.error({ err, eventId: c.id, attempt }, 'could not publish a resent command');
        throw err;
      }),
    );
  }
}
