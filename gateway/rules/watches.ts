import { BoundedMap } from '../core/bounded-map.js';
import type { ReadingEvent } from '../core/events.js';
import type { Kind, ReadingValue } from '../core/kinds.js';
import { RULE_BOUNDS, boundOf, type OnForget, type KeyBounds } from './bounds.js';
import { operatorOf, type Evaluate } from './operators.js';
import { scopeKey, type Scope } from './series.js';

/**
 * What the stateful time facts track, reading by reading, for each device, zone or site:
 * - held: since when a condition has held without a break (`heldFor`);
 * - absent: when a reading of a kind (with a value) was last seen (`absent`);
 * - hysteresis: a Schmitt trigger's state (`hysteresis`).
 * One spec per distinct fact parameters in the rules in force; `id` names it.
 */
export type WatchSpec =
  | { readonly type: 'held'; readonly id: string; readonly kind: Kind; readonly scope: Scope; readonly operator: string; readonly value: unknown; readonly forMs: number }
  | { readonly type: 'absent'; readonly id: string; readonly kind: Kind; readonly scope: Scope; readonly equals: ReadingValue | undefined; readonly forMs: number }
  | { readonly type: 'hysteresis'; readonly id: string; readonly kind: Kind; readonly scope: Scope; readonly rising: boolean; readonly on: number; readonly off: number };

interface Track {
  latest: ReadingEvent;
  since?: number | undefined;
  lastSeen?: number | undefined;
  on?: boolean | undefined;
  /** A device-scoped absence whose device said `offline`: known to be away, so not absent, until it speaks again. */
  away?: boolean | undefined;
}

/**
 * Asks for a wake-up of the rules that use a watch at `at` (undefined: no longer needed;
 * `forgotten`: the key was forgotten past its bound, or its device removed, so its timer goes now, not at its time).
 */
export type Schedule = (spec: WatchSpec, key: string, at: number | undefined, forgotten?: boolean) => void;

/** A spec as a reading meets it: its operator looked up and its tracks found once per configure. */
interface Entry {
  readonly spec: WatchSpec;
  readonly evaluate: Evaluate | undefined;
  readonly tracks: Map<string, Track>;
}

export class Watches {
  private byKind = new Map<Kind, Entry[]>();
  private specs = new Map<string, WatchSpec>();
  /** Per spec, by key: past the bound of its scope, the key first seen is forgotten (rules/bounds.ts). */
  private readonly tracks = new Map<string, BoundedMap<string, Track>>();
  private readonly watchedSince = new Map<string, number>();
  /** Device → the keys (sources) of its device-scoped absences: a status message names the device alone. */
  private readonly keysOf = new Map<string, string[]>();

  constructor(
    private readonly schedule: Schedule,
    private readonly bounds: KeyBounds = RULE_BOUNDS,
    private readonly forgot?: OnForget,
  ) {}

  /**
   * Takes the specs of the rules now in force; tracks of specs that stay are kept. With
   * `latest` (the latest reading of every device and kind), a held-for or hysteresis spec new to
   * this set starts from them, as a restart's rebuild would start it from the history: a door that
   * opened before a held-for rule was loaded (or its pack deleted and put back) has been open since
   * that reading. An absence still counts from when its rule came into force (`absent`).
   */
  configure(specs: readonly WatchSpec[], now: number, latest?: () => readonly ReadingEvent[]): void {
    this.specs = new Map(specs.map((s) => [s.id, s]));
    this.byKind = new Map();
    for (const id of [...this.tracks.keys()]) if (!this.specs.has(id)) this.tracks.delete(id);
    const fresh = new Map<Kind, Entry[]>();
    for (const s of this.specs.values()) {
      let list = this.byKind.get(s.kind);
      if (!list) this.byKind.set(s.kind, (list = []));
      let tracks = this.tracks.get(s.id);
      const isNew = !tracks;
      if (!tracks) this.tracks.set(s.id, (tracks = this.tracksOf(s)));
      const entry = { spec: s, evaluate: s.type === 'held' ? operatorOf(s.operator) : undefined, tracks };
      list.push(entry);
      if (isNew && s.type !== 'absent') fresh.set(s.kind, [...(fresh.get(s.kind) ?? []), entry]);
      if (!this.watchedSince.has(s.id)) this.watchedSince.set(s.id, now);
    }
    for (const id of [...this.watchedSince.keys()]) if (!this.specs.has(id)) this.watchedSince.delete(id);
    if (!latest || fresh.size === 0) return;
    const readings = latest().filter((r) => fresh.has(r.kind));
    readings.sort((a, b) => (a.judgedMs ?? a.timeMs) - (b.judgedMs ?? b.timeMs));
    for (const r of readings) this.meet(r, fresh.get(r.kind)!);
  }

  private tracksOf(spec: WatchSpec): BoundedMap<string, Track> {
    const bound = boundOf(this.bounds, spec.scope);
    return new BoundedMap<string, Track>(bound, (key, track) => {
      this.schedule(spec, key, undefined, true);
      if (spec.type === 'absent' && spec.scope === 'device') this.unindex(track.latest.device, key);
      this.forgot?.('watch', bound);
    });
  }

  /** Keys tracked, all watches together (for tests of the bound). */
  get trackCount(): number {
    let n = 0;
    for (const tracks of this.tracks.values()) n += tracks.size;
    return n;
  }

  spec(id: string): WatchSpec | undefined {
    return this.specs.get(id);
  }

  record(r: ReadingEvent): void {
    const entries = this.byKind.get(r.kind);
    if (entries) this.meet(r, entries);
  }

  private meet(r: ReadingEvent, entries: readonly Entry[]): void {
    // Time as the gateway vouches for it: a device clock ahead cannot delay a held-for or an absence.
    const t = r.judgedMs ?? r.timeMs;
    for (let i = 0; i < entries.length; i++) {
      const { spec, evaluate, tracks } = entries[i]!;
      const key = scopeKey(r, spec.scope);
      let track = tracks.get(key);
      if (!track) {
        tracks.set(key, (track = { latest: r }));
        if (spec.type === 'absent' && spec.scope === 'device') this.index(r.device, key);
      } else if (t >= (track.latest.judgedMs ?? track.latest.timeMs)) track.latest = r;
      switch (spec.type) {
        case 'held':
          if (evaluate ? evaluate(r.value, spec.value) : false) {
            if (track.since === undefined) {
              track.since = t;
              this.schedule(spec, key, t + spec.forMs);
            }
          } else if (track.since !== undefined) {
            track.since = undefined;
            this.schedule(spec, key, undefined);
          }
          break;
        case 'absent':
          if (track.away) this.back(spec, key, track, t);
          if (spec.equals === undefined || r.value === spec.equals) {
            if (track.lastSeen === undefined || t > track.lastSeen) {
              track.lastSeen = t;
              this.schedule(spec, key, t + spec.forMs);
            }
          }
          break;
        case 'hysteresis': {
          const v = r.numeric;
          if (spec.rising ? v > spec.on : v < spec.on) track.on = true;
          else if (spec.rising ? v < spec.off : v > spec.off) track.on = false;
          break;
        }
      }
    }
  }

  /**
   * A device said it is offline, or online again (`devices/<device>/status`). A device that said
   * offline is known to be away, not silent: its device-scoped absences stop (their wake-ups are
   * cancelled) and are false until it speaks again; back (online, or a reading), its silence
   * counts from then. Absences of a zone or a site are about readings there, whoever is away.
   */
  deviceStatus(device: string, online: boolean, t: number): void {
    const keys = this.keysOf.get(device);
    if (!keys) return;
    for (const spec of this.specs.values()) {
      if (spec.type !== 'absent' || spec.scope !== 'device') continue;
      const tracks = this.tracks.get(spec.id);
      for (const key of keys) {
        const track = tracks?.get(key);
        if (!track) continue;
        if (online) {
          if (track.away) this.back(spec, key, track, t);
        } else if (!track.away) {
          track.away = true;
          this.schedule(spec, key, undefined);
        }
      }
    }
  }

  /**
   * A device treated as removed (an operator cleared its alarm, operator-clear.ts): its
   * device-scoped watches forget it and drop their timers, so the removed smoke detector's
   * absence does not fire "silent" half an hour later. Its next reading starts them afresh.
   * Returns how many were forgotten.
   */
  forgetDevice(source: string, device: string): number {
    let n = 0;
    for (const spec of this.specs.values()) {
      if (spec.scope !== 'device' || !this.tracks.get(spec.id)?.delete(source)) continue;
      this.schedule(spec, source, undefined, true);
      n++;
    }
    this.unindex(device, source);
    return n;
  }

  private back(spec: WatchSpec & { type: 'absent' }, key: string, track: Track, t: number): void {
    track.away = false;
    track.lastSeen = Math.max(track.lastSeen ?? t, t);
    this.schedule(spec, key, track.lastSeen + spec.forMs);
  }

  /** A device-scoped absence forgot `key`: out of the device's keys unless another one still tracks it. */
  private unindex(device: string, key: string): void {
    for (const spec of this.specs.values()) if (spec.type === 'absent' && spec.scope === 'device' && this.tracks.get(spec.id)?.has(key)) return;
    const keys = this.keysOf.get(device)?.filter((k) => k !== key);
    if (keys?.length) this.keysOf.set(device, keys);
    else this.keysOf.delete(device);
  }

  private index(device: string, key: string): void {
    const keys = this.keysOf.get(device);
    if (!keys) this.keysOf.set(device, [key]);
    else if (!keys.includes(key)) keys.push(key);
  }

  /** True once the watched condition has held for its duration at `now`. */
  held(id: string, key: string, now: number): boolean {
    const spec = this.specs.get(id);
    const since = this.tracks.get(id)?.get(key)?.since;
    return spec?.type === 'held' && since !== undefined && now - since >= spec.forMs;
  }

  /**
   * True when no matching reading was seen for the duration. A key never seen counts from when
   * the rule came into force, so a sensor that never reported is silent too.
   */
  absent(id: string, key: string, now: number): boolean {
    const spec = this.specs.get(id);
    if (spec?.type !== 'absent') return false;
    const track = this.tracks.get(id)?.get(key);
    if (track?.away) return false;
    const last = track?.lastSeen ?? this.watchedSince.get(id) ?? now;
    return now - last >= spec.forMs;
  }

  hysteresis(id: string, key: string): boolean {
    return this.tracks.get(id)?.get(key)?.on ?? false;
  }

  /** The latest reading a watch saw for a key: the context of the rules it wakes. */
  latest(id: string, key: string): ReadingEvent | undefined {
    return this.tracks.get(id)?.get(key)?.latest;
  }
}
