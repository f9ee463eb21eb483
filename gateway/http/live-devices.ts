import { BoundedMap } from '../core/bounded-map.js';
import type { DeviceStatusEvent, DeviceSilenceEvent, ReadingEvent } from '../core/events.js';
import { isNativeStatusId } from '../core/ids.js';
import type { DeviceLiveness } from '../core/liveness.js';
import { isNativeReadingId } from '../ingest/native.js';
import type { PlacedDevice } from '../devices/service.js';
import type { DeviceState, LiveViewOptions } from './live-types.js';

/**
 * The live page's devices: each with its last readings and online state, and those changed since
 * the last push. Bounded: the least recently heard from is forgotten first (maxDevices).
 */
export class LiveDevices {
  private readonly all: BoundedMap<string, DeviceState>;
  private readonly changes = new Set<string>();
  /** Devices gone since the last push (the map no longer places them). */
  private readonly removed = new Set<string>();
  /**
   * Shown as the map placed them (a native device's readings, its placement, an actuator-only
   * device's status), and heard on contract topics: only the first, never the second, leaves when
   * the map no longer places it. Weak: forgotten with the device.
   */
  private readonly fromMap = new WeakSet<DeviceState>();
  private readonly fromContract = new WeakSet<DeviceState>();

  /**
   * `touched`: a device changed; true when someone watches (the change then goes with the next push).
   * `placesIt`: whether the map still places a device shown (none: no map, nothing is removed).
   */
  constructor(
    max: number,
    private readonly placeOf: LiveViewOptions['placeOf'],
    private readonly touched: () => boolean,
    private readonly placesIt?: (d: DeviceState) => boolean,
  ) {
    this.all = new BoundedMap(max);
  }

  values(): DeviceState[] {
    return [...this.all.values()];
  }

  /** The devices removed since the last push, forgotten from here. */
  takeRemoved(): string[] {
    const out = [...this.removed];
    this.removed.clear();
    return out;
  }

  /** The devices changed since the last push, forgotten from here. */
  take(): DeviceState[] {
    const out: DeviceState[] = [];
    for (const id of this.changes) {
      const d = this.all.get(id);
      if (d) out.push(d);
    }
    this.changes.clear();
    return out;
  }

  get changed(): number {
    return this.changes.size + this.removed.size;
  }

  dropChanges(): void {
    this.changes.clear();
    this.removed.clear();
  }

  reading(e: ReadingEvent): void {
    const d = this.device(e.device, e.timeMs);
    this.origin(d, e.id);
    d.site = e.site;
    d.zone = e.zone;
    d.readings[e.kind] = { value: e.value, time: e.timeMs };
  }

  /**
   * A reading that is not the device's current state (a redriven dead letter, one that came late):
   * shown when it is newer than what is shown of its kind there, so a device placed and redriven
   * shows its latest values; an older one changes nothing.
   */
  history(e: ReadingEvent): void {
    const known = this.all.get(e.device);
    if (known && known.site !== null && (known.site !== e.site || known.zone !== e.zone)) return;
    const shown = known?.readings[e.kind];
    if (shown && shown.time >= e.timeMs) return;
    const d = this.device(e.device, e.timeMs);
    this.origin(d, e.id);
    [d.site, d.zone] = [e.site, e.zone];
    d.readings[e.kind] = { value: e.value, time: e.timeMs };
  }

  /** The map reloaded: each heard device it places is shown there (a new one with what its availability said). */
  placed(list: readonly PlacedDevice[]): void {
    for (const p of list) {
      const known = this.all.get(p.device);
      if (known && known.site === p.site && known.zone === p.zone && (known.online !== null || p.online === null)) continue;
      const d = this.device(p.device, known?.lastSeen ?? p.lastSeen);
      this.fromMap.add(d);
      [d.site, d.zone] = [p.site, p.zone];
      d.online ??= p.online;
    }
    this.unplaced();
  }

  /**
   * The devices shown as the map placed them that it places no more (renamed away, unassigned,
   * its entry deleted): gone from the page at once, and at start (the stored readings of an old
   * name are not put back in a zone). A contract device stays: the map does not place those.
   */
  unplaced(): void {
    const { placesIt } = this;
    if (!placesIt) return;
    for (const d of [...this.all.values()]) {
      if (!this.fromMap.has(d) || this.fromContract.has(d) || placesIt(d)) continue;
      this.all.delete(d.device);
      this.changes.delete(d.device);
      if (this.touched()) this.removed.add(d.device);
    }
  }

  status(e: DeviceStatusEvent): void {
    const d = this.device(e.device, e.timeMs);
    d.online = e.online;
    if (isNativeStatusId(e.id)) this.fromMap.add(d);
  }

  silence(e: DeviceSilenceEvent): void {
    const d = this.all.get(e.device);
    if (d) this.device(e.device, d.lastSeen).silent = e.silent;
  }

  /** What each device last said and whether it was silent, as stored (found silent is not seen: lastSeen stays its last reading's). */
  seed(devices: readonly DeviceLiveness[]): void {
    for (const s of devices) {
      const d = Object.assign(this.device(s.device, s.heardMs ?? this.all.get(s.device)?.lastSeen ?? s.atMs), { online: s.online }, s.silent ? { silent: true } : {});
      if (s.native) this.fromMap.add(d);
    }
  }

  /** A native device's reading has the id native ingest gives it; any other is a contract device's. */
  private origin(d: DeviceState, id: string): void {
    (isNativeReadingId(id) ? this.fromMap : this.fromContract).add(d);
  }

  private device(id: string, time: number): DeviceState {
    // Touched: least recently heard from first, the oldest forgotten past maxDevices.
    const d = this.all.get(id) ?? { device: id, site: null, zone: null, online: null, lastSeen: time, readings: {} };
    this.all.touch(id, d);
    d.lastSeen = Math.max(d.lastSeen, time);
    // Known only by its status or silence (an actuator-only native device): where the map places it.
    const at = d.site === null ? this.placeOf?.(id) : undefined;
    if (at) [d.site, d.zone] = [at.site, at.zone];
    if (at) this.fromMap.add(d);
    this.removed.delete(id);
    // Nobody watching: the snapshot a new viewer gets covers it.
    if (this.touched()) this.changes.add(id);
    return d;
  }
}
