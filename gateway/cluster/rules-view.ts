import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AlarmAckEvent } from '../core/events.js';
import { ManualClock } from '../core/manual-clock.js';
import type { AlarmView } from '../rules/alarms.js';
import { forgetCleared } from '../rules/operator-clear.js';
import { RulesRuntime } from '../rules/runtime.js';
import { adoptSnapshot, decodeSnapshot, restoreAlarms, type RuleStateSnapshot } from '../rules/shared-state.js';
import { actuatorViews, alarmViews, type ActuatorView } from '../rules/views.js';
import { KEYS } from './redis-keys.js';

/** How often the view is read again from Redis (and at once after a relayed command, alarm or report). */
const REFRESH_MS = 1000;

/**
 * The rules' alarms and actuators as the whole cluster has them, for the API and the live page of
 * any node: every partition's shared state, read from Redis (at most a second old), put into a
 * runtime of its own so that the views are the single gateway's (rules/views.ts). An
 * acknowledgement is carried to the alarm's owner through its partition's stream (the owner
 * acknowledges, commits and announces it); the answer is the alarm as it will be.
 */
export class ClusterRulesView {
  private runtime: RulesRuntime | undefined;
  private partitionOf = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private again = false;
  private seen = '';
  private readonly listeners: (() => void)[] = [];

  constructor(private readonly o: { readonly redis: Redis; readonly partitions: number; readonly log: Logger }) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Called after a refresh that changed what the views show. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Reads every partition's shared state again (one at a time; a call during one asks for another after it). */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = this.read().finally(() => {
      this.refreshing = undefined;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const pipeline = this.o.redis.pipeline();
    for (let p = 0; p < this.o.partitions; p++) pipeline.hgetall(KEYS.state(p));
    const results = await pipeline.exec().catch(() => null);
    if (!results || results.some(([err]) => err)) return; // Redis away: the last view stands
    const merged = { actuators: new Map(), armed: new Map(), alarms: new Map(), sagas: new Map(), reports: new Map() } satisfies { [K in keyof RuleStateSnapshot]: Map<unknown, unknown> };
    const partitionOf = new Map<string, number>();
    results.forEach(([, hash], p) => {
      const s = decodeSnapshot(hash as Record<string, string>);
      for (const k of Object.keys(merged) as (keyof RuleStateSnapshot)[]) for (const [key, v] of s[k]) (merged[k] as Map<string, unknown>).set(key, v);
      for (const id of s.alarms.keys()) partitionOf.set(id, p);
    });
    const runtime = new RulesRuntime({ clock: new ManualClock(Date.now()), log: this.o.log, onOutcome: () => undefined });
    runtime.dry = true;
    restoreAlarms(runtime, merged);
    adoptSnapshot(runtime, merged);
    this.runtime = runtime;
    this.partitionOf = partitionOf;
    const seen = JSON.stringify([this.alarms(), this.actuators()]);
    if (seen !== this.seen) {
      this.seen = seen;
      for (const listener of this.listeners) listener();
    }
  }

  alarms(): AlarmView[] {
    return this.runtime ? alarmViews(this.runtime) : [];
  }

  alarm(id: string): AlarmView | undefined {
    const a = this.runtime?.alarms.get(id);
    return a && this.runtime?.alarms.view(a);
  }

  actuators(): ActuatorView[] {
    return this.runtime ? actuatorViews(this.runtime) : [];
  }

  /** Whether an alarm of this site is active in the cluster (ingest checks MQTT acknowledgements against it). */
  knows(id: string, site?: string): boolean {
    return this.runtime?.alarms.knows(id, site) ?? false;
  }

  /** Carries an acknowledgement to the alarm's owner; undefined when no active alarm has that id. */
  async acknowledge(a: Pick<AlarmAckEvent, 'alarmId' | 'by' | 'note' | 'id' | 'clear'>): Promise<AlarmView | undefined> {
    if (this.alarm(a.alarmId) === undefined) await this.refresh();
    const view = this.alarm(a.alarmId);
    const p = this.partitionOf.get(a.alarmId);
    if (!view || p === undefined) return undefined;
    // A clear carries where the alarm is and the device it names: a takeover's replay forgets the device from it (the alarm cleared is no longer in the shared state).
    const place = a.clear && view.state === 'active' && view.device !== undefined ? { site: view.site, zone: view.zone, device: view.device } : {};
    await this.o.redis.xadd(KEYS.stream(p), '*', 'k', 'ack', 'x', JSON.stringify({ alarmId: a.alarmId, by: a.by, note: a.note, id: a.id, ...(a.clear ? { clear: true } : {}), ...place }));
    this.o.log.info({ alarmId: a.alarmId, by: a.by, rule: view.rule, partition: p }, 'alarm acknowledgement sent to its owner');
    const acked = view.acknowledged ? view : { ...view, acknowledged: true, acknowledgedBy: a.by };
    return a.clear ? { ...acked, state: 'cleared' } : acked;
  }
}

/** The owner's end of `acknowledge` above: an acknowledgement any node took, carried here through the partition's stream; false when it cannot be read. */
export function takeAcknowledgement(runtime: RulesRuntime, log: Logger, json: string): boolean {
  let a: { alarmId?: unknown; by?: unknown; note?: unknown; id?: unknown; clear?: unknown; site?: unknown; zone?: unknown; device?: unknown } | null;
  try {
    a = JSON.parse(json) as typeof a;
  } catch {
    return false;
  }
  if (!a || typeof a.alarmId !== 'string' || typeof a.by !== 'string' || typeof a.id !== 'string' || (a.note !== undefined && typeof a.note !== 'string')) return false;
  const alarm = runtime.acknowledge(a.alarmId, a.by, a.note, a.id, a.clear === true);
  // Replayed (a takeover): the clear ended the alarm on the last owner, which forgot the device then (alarm active here: the clear did not end it).
  const active = alarm !== undefined && runtime.alarms.find(alarm) === alarm;
  if (runtime.dry && a.clear === true && !active && typeof a.site === 'string' && typeof a.zone === 'string' && typeof a.device === 'string') forgetCleared(runtime, log, { site: a.site, zone: a.zone, device: a.device }, a.alarmId, true);
  if (alarm && !runtime.dry) log.info({ alarmId: a.alarmId, by: a.by, rule: alarm.rule, cleared: a.clear === true }, a.clear === true ? 'alarm acknowledged and cleared' : 'alarm acknowledged');
  return true;
}
