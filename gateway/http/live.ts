import { BoundedMap } from '../core/bounded-map.js';
import type { ClockTimer } from '../core/clock.js';
import type { ActuatorStateEvent, AlarmTransitionEvent, AlertEvent, CommandEvent, DeadLetterEvent, ReadingEvent, ZoneArmedEvent } from '../core/events.js';
import type { DeviceLiveness } from '../core/liveness.js';
import type { WaitingDevice } from '../devices/service.js';
import type { RouteHandler } from './server.js';
import { evictionCounter, type EvictingMap } from '../observability/evictions.js';
import { LIVE_BOUNDS, type ActuatorBadge, type DeviceState, type FeedEvent, type LiveSnapshot, type LiveViewOptions, type ReportedState } from './live-types.js';
import { LiveTable } from './live-table.js';
import { LiveDevices } from './live-devices.js';
import { LiveViewers } from './live-viewers.js';

export { LIVE_BOUNDS, type ActuatorBadge, type DeviceState, type FeedEvent, type LiveSnapshot, type LiveViewOptions, type ReportedState } from './live-types.js';

const HEARTBEAT_MS = 15_000;

/**
 * The live page (`/`) and its server-sent event stream (`/live/events`): every device with its
 * last readings and online state, the actuators' last commands, and commands, alerts and dead
 * letters as they happen. Bus listeners only note what changed (O(1)); a timer pushes the
 * changes at most every LIVE_PUSH_MS, so a busy gateway costs viewers one message per interval,
 * not one per reading, and ingest never waits for a browser.
 */
export class LiveView {
  private readonly devices: LiveDevices;
  private readonly actuators: BoundedMap<string, ActuatorBadge>;
  /** Actuators or alarms changed since the last push: the rules' views are sent whole (they are small). */
  private actuatorsChanged = false;
  private alarmsChanged = false;
  private readonly armed: LiveTable<boolean>;
  private readonly reported: LiveTable<ReportedState>;
  private waitingJson = '[]';
  /** The waiting list may have changed: a device waiting for a zone was heard from, or a while has passed. */
  private waitingStale = false;
  private readonly recent: FeedEvent[] = [];
  private pendingEvents: FeedEvent[] = [];
  private readonly viewers: LiveViewers;
  /** The snapshot message, serialised once and shared by every viewer that connects before it changes. */
  private snapshotMessage: Buffer | undefined;
  private flushTimer: ClockTimer | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly off: (() => void)[] = [];
  private readonly recentEvents: number;

  constructor(private readonly o: LiveViewOptions) {
    const { placed } = o;
    // Still placed: by its map entry, or (Zigbee2MQTT) by a friendly name `<site>/<zone>/<device>` the map does not override.
    const placesIt = placed && ((d: DeviceState) => o.placeOf?.(d.device) !== undefined || (d.site !== null && d.zone !== null && placed.has(d.site, d.zone, d.device)));
    const touched = (): boolean => {
      this.changedState();
      if (this.viewers.size === 0) return false;
      this.schedule();
      return true;
    };
    this.devices = new LiveDevices(o.maxDevices ?? LIVE_BOUNDS.devices, o.placeOf, touched, placesIt);
    const keys = o.maxKeys ?? LIVE_BOUNDS.keys;
    const evicted = evictionCounter(o.metrics, o.log, () => o.clock.now());
    const counted = (map: EvictingMap) => () => evicted(map, keys, 'the live page shows it again at its next change');
    this.actuators = new BoundedMap(keys, counted('live_actuators'));
    this.armed = new LiveTable(keys, counted('live_armed'));
    this.reported = new LiveTable(keys, counted('live_reported'));
    this.recentEvents = o.recentEvents ?? 100;
    this.viewers = new LiveViewers({
      log: o.log,
      metrics: o.metrics,
      maxViewers: o.maxViewers ?? 0,
      maxViewersPerAddress: o.maxViewersPerAddress ?? 0,
      maxBehindBytes: o.maxBehindBytes,
      snapshot: () => this.snapshotBuffer(),
      snapshotBytes: () => this.snapshotMessage?.length ?? 0,
    });
    o.metrics.readFrom('liveViewers', () => this.viewers.size);
  }

  /** The routes to hand to the HTTP server. */
  routes(): ReadonlyMap<string, RouteHandler> {
    return new Map<string, RouteHandler>([
      ['/', (req, res) => this.viewers.page(req, res)],
      ['/live/events', (req, res) => this.viewers.subscribe(req, res)],
      ['/live/state', (_req, res) => void res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(this.snapshotJson())],
    ]);
  }

  start(): void {
    const { bus } = this.o;
    this.off.push(
      bus.on('reading', (e) => this.devices.reading(e)),
      bus.on('history', (e) => this.devices.history(e)),
      bus.on('deviceStatus', (e) => this.devices.status(e)),
      bus.on('command', (e) => this.onCommand(e)),
      bus.on('alert', (e) => this.onAlert(e)),
      bus.on('deadletter', (e) => this.onDeadLetter(e)),
      bus.on('zoneArmed', (e) => this.onZoneArmed(e)),
      bus.on('alarm', (e) => this.onAlarm(e)),
      bus.on('commandStatus', () => this.actuatorsMoved()),
      bus.on('actuatorState', () => this.actuatorsMoved()),
      bus.on('deviceSilence', (e) => this.devices.silence(e)),
      bus.on('actuatorState', (e) => this.onActuatorState(e)),
    );
    const { placed } = this.o;
    // A device placed (or moved) since it last spoke: shown there at once, and no longer as waiting.
    if (placed) this.off.push(placed.changes(() => this.mapChanged(placed.list())));
    // Each heartbeat also looks at the devices waiting for a zone again (one may have been placed).
    this.heartbeat = setInterval(() => void (this.viewers.broadcast(': keep-alive\n\n'), (this.waitingStale = true), this.schedule()), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  stop(): void {
    for (const off of this.off.splice(0)) off();
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.flushTimer) this.o.clock.clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.viewers.endAll();
  }

  /** The armed states the rules know at start (remembered across restarts). */
  seedArmed(states: readonly { site: string; zone: string; armed: boolean }[]): void {
    this.snapshotMessage = undefined;
    for (const { site, zone, armed } of states) this.armed.seed(`${site}/${zone}`, armed);
  }

  /** What each actuator last reported, as the rules rebuilt it at start (unless a report came first). */
  seedReported(reports: readonly { target: string; state: unknown; at: number; device: string }[]): void {
    this.snapshotMessage = undefined;
    for (const r of reports) this.reported.seed(r.target, { state: r.state, time: r.at, device: r.device });
  }

  /** The latest readings the rules rebuilt at start: the page opens on the building as it was, not empty. */
  seedReadings(readings: readonly ReadingEvent[]): void {
    for (const r of [...readings].sort((a, b) => a.timeMs - b.timeMs)) this.devices.reading(r);
  }

  /** What each device last said and whether it was silent, as stored (found silent is not seen: lastSeen stays its last reading's). */
  seedDevices(devices: readonly DeviceLiveness[]): void {
    // Those the map no longer places leave once the retained messages are relearnt (the map's listeners hear it then).
    this.devices.seed(devices);
  }

  snapshot(): LiveSnapshot {
    return {
      devices: this.devices.values(),
      actuators: this.actuatorBadges(),
      armed: this.armed.snapshot(),
      alarms: this.o.rules?.alarms() ?? [],
      events: [...this.recent],
      pushMs: this.o.pushMs,
      reported: this.reported.snapshot(),
      waiting: this.o.waiting?.() ?? [],
    };
  }

  private actuatorBadges(): Record<string, ActuatorBadge> {
    if (!this.o.rules) return Object.fromEntries(this.actuators);
    return Object.fromEntries(
      this.o.rules.actuators().map((a) => [`${a.site}/${a.zone}/${a.actuator}`, { data: a.data, time: a.since, rule: a.rule, reported: a.reported, reportedAt: a.reportedAt, status: a.status }]),
    );
  }

  /** The rules' views changed outside this node's bus (a cluster's: cluster/rules-view.ts). */
  rulesChanged(): void {
    if (this.viewers.size > 0) this.alarmsChanged = true;
    this.actuatorsMoved();
  }

  private actuatorsMoved(): void {
    this.changedState();
    if (this.viewers.size === 0) return;
    this.actuatorsChanged = true;
    this.schedule();
  }

  private onAlarm(e: AlarmTransitionEvent): void {
    this.changedState();
    if (e.actuator) this.actuatorsMoved();
    if (e.transition !== 'updated') {
      this.event({ kind: 'alarm', id: e.id, time: e.timeMs, alarmId: e.alarmId, transition: e.transition, site: e.site, zone: e.zone, severity: e.severity, rule: e.rule, message: e.message, count: e.count, reason: e.reason ?? null });
    }
    if (this.viewers.size === 0) return;
    this.alarmsChanged = true;
    this.schedule();
  }

  private snapshotJson(): string {
    return JSON.stringify(this.snapshot());
  }

  private snapshotBuffer(): Buffer {
    this.snapshotMessage ??= Buffer.from(`retry: 2000\nevent: snapshot\ndata: ${this.snapshotJson()}\n\n`);
    return this.snapshotMessage;
  }

  /**
   * Something a snapshot shows changed. With viewers, the change also goes out with the next push,
   * so a snapshot made since the last push still serves new viewers (one copy per LIVE_PUSH_MS at
   * most); without viewers nothing tracks changes, so the next viewer needs a new one.
   */
  private changedState(): void {
    if (this.viewers.size === 0) this.snapshotMessage = undefined;
  }

  private onCommand(e: CommandEvent): void {
    const ce = e.cloudEvent;
    this.actuators.touch(`${e.site}/${e.zone}/${e.actuator}`, { data: ce.data, time: e.timeMs, rule: e.rule });
    this.actuatorsChanged = this.viewers.size > 0;
    this.event({ kind: 'command', id: e.id, time: e.timeMs, site: e.site, zone: e.zone, actuator: e.actuator, rule: e.rule, data: ce.data, correlationId: ce.correlationid });
  }

  private onAlert(e: AlertEvent): void {
    const { data, correlationid } = e.cloudEvent;
    this.event({ kind: 'alert', id: e.id, time: e.timeMs, site: e.site, zone: data.zone, device: data.device, severity: e.severity, rule: e.rule, message: data.message, correlationId: correlationid });
  }

  private onDeadLetter(e: DeadLetterEvent): void {
    if (e.reason === 'unassigned_device') this.waitingStale = true;
    this.event({ kind: 'deadletter', id: e.id, time: e.timeMs, reason: e.reason, topic: e.topic, detail: e.detail, clientId: e.clientId });
  }

  private onZoneArmed(e: ZoneArmedEvent): void {
    this.changedState();
    this.armed.set(`${e.site}/${e.zone}`, e.armed, this.viewers.size > 0);
    this.schedule();
  }

  private onActuatorState(e: ActuatorStateEvent): void {
    this.changedState();
    this.reported.set(`${e.site}/${e.zone}/${e.actuator}`, { state: e.state, time: e.timeMs, device: e.device }, this.viewers.size > 0);
    this.schedule();
  }

  private mapChanged(placed: Parameters<LiveDevices['placed']>[0]): void {
    this.changedState();
    this.devices.placed(placed);
    this.waitingStale = true;
    this.schedule();
  }

  /** The waiting list when it changed since the last push (looked at only when it may have). */
  private waitingUpdate(): readonly WaitingDevice[] | undefined {
    if (!this.o.waiting || !this.waitingStale) return undefined;
    this.waitingStale = false;
    const list = this.o.waiting();
    const text = JSON.stringify(list.map((w) => [w.key, w.kinds, w.unmapped]));
    if (text === this.waitingJson) return undefined;
    this.waitingJson = text;
    return list;
  }

  private event(e: FeedEvent): void {
    this.changedState();
    this.recent.push(e);
    if (this.recent.length > this.recentEvents) this.recent.shift();
    if (this.viewers.size === 0) return;
    this.pendingEvents.push(e);
    // A storm of dead letters must not grow the pending list without bound between pushes.
    if (this.pendingEvents.length > this.recentEvents) this.pendingEvents.shift();
    this.schedule();
  }

  private schedule(): void {
    if (this.flushTimer || this.viewers.size === 0) return;
    this.flushTimer = this.o.clock.setTimeout(() => this.flush(), this.o.pushMs);
    this.flushTimer.unref?.();
  }

  /** Sends what changed since the last push, as one `update` message. */
  flush(): void {
    this.flushTimer = undefined;
    this.snapshotMessage = undefined;
    if (this.viewers.size === 0) {
      this.devices.dropChanges();
      this.armed.dropChanges();
      this.reported.dropChanges();
      this.pendingEvents = [];
      this.actuatorsChanged = false;
      this.alarmsChanged = false;
      return;
    }
    const waiting = this.waitingUpdate();
    if (this.devices.changed === 0 && this.pendingEvents.length === 0 && this.armed.changed === 0 && this.reported.changed === 0 && !waiting && !this.actuatorsChanged && !this.alarmsChanged) return;
    const devices = this.devices.take();
    const removed = this.devices.takeRemoved();
    const actuators = this.actuatorsChanged ? this.actuatorBadges() : {};
    const armed = this.armed.take();
    const alarms = this.alarmsChanged ? (this.o.rules?.alarms() ?? []) : undefined;
    const reported = this.reported.take();
    const message = `event: update\ndata: ${JSON.stringify({ devices, actuators, armed, events: this.pendingEvents, reported, ...(alarms ? { alarms } : {}), ...(waiting ? { waiting } : {}), ...(removed.length > 0 ? { removed } : {}) })}\n\n`;
    this.actuatorsChanged = false;
    this.alarmsChanged = false;
    this.pendingEvents = [];
    this.viewers.broadcast(message);
  }
}
