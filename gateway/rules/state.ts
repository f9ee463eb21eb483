import { BoundedMap } from '../core/bounded-map.js';
import type { Kind, ReadingValue } from '../core/kinds.js';
import type { ReadingEvent } from '../core/events.js';
import { RULE_BOUNDS, type OnForget, type OnRefuse, type KeyBounds, type RuleBounds } from './bounds.js';
import { truthy } from './operators.js';
import { ArmedZones } from './armed-zones.js';

export interface Latest {
  readonly value: ReadingValue;
  readonly numeric: number;
  readonly timeMs: number;
  readonly device: string;
  /** The reading itself (the context when a timer re-runs rules for it). */
  readonly reading: ReadingEvent;
}

/** A latest value, kept in place: one per zone (or device) and kind, updated rather than replaced. */
interface Slot {
  value: ReadingValue;
  numeric: number;
  timeMs: number;
  device: string;
  reading: ReadingEvent;
}

/** What `anyInSite` and site-wide `latest` read, kept as zones update: no walk over the site's zones per reading. */
interface SiteKind {
  /** Zones whose latest value of the kind is true (or ≥ 1). */
  truthy: number;
  /** The newest latest value across the zones (the first zone's, of equals), and its zone's place. */
  newest: Slot | undefined;
  newestAt: number;
  /** The newest was forgotten with its zone: found again when next asked (not at each forgetting: a flood forgets zones fast). */
  stale: boolean;
}

interface Zone {
  readonly site: Site;
  readonly name: string;
  /** Its place among the site's zones (in the order they were first seen). */
  readonly at: number;
  readonly kinds: Map<Kind, Slot>;
  /** Forgotten past the bound of zones: a device still pointing to it looks its zone up again. */
  gone: boolean;
}

interface Site {
  readonly name: string;
  /** In the order first seen; forgotten zones stay until they are half of it (then it is filtered). */
  zones: Zone[];
  gone: number;
  /** Zones ever placed: the next one's `at`. */
  seen: number;
  readonly byName: Map<string, Zone>;
  readonly kinds: Map<Kind, SiteKind>;
}

interface Device {
  zone: Zone;
  readonly kinds: Map<Kind, Slot>;
}

const isTruthy = (l: Slot): boolean => truthy(l.value) === true || l.numeric >= 1;

/**
 * What the rules know of the building: the latest value per device and per zone and kind,
 * the zones of each site, and which zones are armed (armed-zones.ts). Fed by current readings only. A reading
 * costs a Map lookup by its source and updates its slots in place (nothing allocated). Devices
 * and zones past their bounds (rules/bounds.ts) are forgotten, the first seen first.
 */
export class ZoneState extends ArmedZones {
  private readonly sites = new Map<string, Site>();
  private readonly byDevice: BoundedMap<string, Device>;
  /** Every zone remembered, in the order first seen (what is forgotten first). */
  private readonly zones: BoundedMap<Zone, true>;

  constructor(armedFile?: string, bounds: KeyBounds & Partial<Pick<RuleBounds, 'armedZones'>> = RULE_BOUNDS, forgot?: OnForget, refused?: OnRefuse) {
    super(armedFile, bounds.armedZones, { forgot, refused });
    this.byDevice = new BoundedMap(bounds.devices, () => forgot?.('device', bounds.devices));
    this.zones = new BoundedMap(bounds.zones, (zone) => {
      this.forget(zone);
      forgot?.('zone', bounds.zones);
    });
  }

  private zone(siteName: string, name: string): Zone {
    let site = this.sites.get(siteName);
    if (!site) this.sites.set(siteName, (site = { name: siteName, zones: [], gone: 0, seen: 0, byName: new Map(), kinds: new Map() }));
    let zone = site.byName.get(name);
    if (!zone) {
      zone = { site, name, at: site.seen++, kinds: new Map(), gone: false };
      site.byName.set(name, zone);
      site.zones.push(zone);
      // Past the bound the zone first seen is forgotten: never this one, so never this site.
      this.zones.set(zone, true);
    }
    return zone;
  }

  /** A zone forgotten past the bound: out of its site, and out of the site's tallies. */
  private forget(zone: Zone): void {
    const { site } = zone;
    zone.gone = true;
    site.byName.delete(zone.name);
    if (site.byName.size === 0) {
      this.sites.delete(site.name);
      return;
    }
    for (const [kind, slot] of zone.kinds) this.untally(site, kind, slot);
    if (++site.gone * 2 > site.zones.length) {
      site.zones = site.zones.filter((z) => !z.gone);
      site.gone = 0;
    }
  }

  /** A zone's slot leaves the site's tallies (its zone forgotten, or the device behind it). */
  private untally(site: Site, kind: Kind, slot: Slot): void {
    const siteKind = site.kinds.get(kind);
    if (!siteKind) return;
    if (isTruthy(slot)) siteKind.truthy--;
    if (siteKind.newest === slot) {
      siteKind.newest = undefined;
      siteKind.stale = true;
    }
  }

  /**
   * A device treated as removed (an operator cleared its alarm): its latest readings, and the
   * zone's latest it holds, no longer count until it speaks again. The zone falls back to the
   * newest latest of its other devices (a walk over the devices: rare, an operator's act).
   * Returns the kinds forgotten.
   */
  forgetDevice(siteName: string, zoneName: string, device: string): Kind[] {
    const source = `${siteName}/${zoneName}/${device}`;
    const kinds = new Set(this.byDevice.get(source)?.kinds.keys());
    this.byDevice.delete(source);
    const zone = this.sites.get(siteName)?.byName.get(zoneName);
    for (const [kind, slot] of [...(zone?.kinds ?? [])]) {
      if (slot.device !== device || !zone) continue;
      kinds.add(kind);
      this.untally(zone.site, kind, slot);
      zone.kinds.delete(kind);
      let other: Slot | undefined;
      for (const d of this.byDevice.values()) {
        const known = d.zone === zone ? d.kinds.get(kind) : undefined;
        if (known && (!other || known.timeMs > other.timeMs)) other = known;
      }
      if (other) this.place(zone, kind, { ...other });
    }
    return [...kinds];
  }

  /** A zone's first slot of a kind, counted in the site's tallies. */
  private place(zone: Zone, kind: Kind, slot: Slot): void {
    let siteKind = zone.site.kinds.get(kind);
    if (!siteKind) zone.site.kinds.set(kind, (siteKind = { truthy: 0, newest: undefined, newestAt: 0, stale: false }));
    zone.kinds.set(kind, slot);
    if (isTruthy(slot)) siteKind.truthy++;
    this.newer(siteKind, slot, zone.at);
  }

  update(r: ReadingEvent): void {
    let device = this.byDevice.get(r.source);
    if (!device) this.byDevice.set(r.source, (device = { zone: this.zone(r.site, r.zone), kinds: new Map() }));
    else if (device.zone.name !== r.zone || device.zone.site.name !== r.site || device.zone.gone) device.zone = this.zone(r.site, r.zone);
    const { zone } = device;
    // Recency by what the gateway saw: a device clock ahead of it must not make this reading look newer.
    const timeMs = r.judgedMs ?? r.timeMs;
    const slot = zone.kinds.get(r.kind);
    const siteKind = zone.site.kinds.get(r.kind);
    if (!slot || !siteKind) this.place(zone, r.kind, { value: r.value, numeric: r.numeric, timeMs, device: r.device, reading: r });
    else {
      const was = isTruthy(slot);
      const before = slot.timeMs;
      slot.value = r.value;
      slot.numeric = r.numeric;
      slot.timeMs = timeMs;
      slot.device = r.device;
      slot.reading = r;
      const is = isTruthy(slot);
      if (was !== is) siteKind.truthy += is ? 1 : -1;
      if (siteKind.newest === slot) {
        // The newest went back in time (another device of its zone, with an older time): look again.
        if (timeMs < before) this.findNewest(zone.site, r.kind, siteKind);
      } else this.newer(siteKind, slot, zone.at);
    }
    const known = device.kinds.get(r.kind);
    if (!known) device.kinds.set(r.kind, { value: r.value, numeric: r.numeric, timeMs, device: r.device, reading: r });
    else {
      known.value = r.value;
      known.numeric = r.numeric;
      known.timeMs = timeMs;
      known.device = r.device;
      known.reading = r;
    }
  }

  /** A zone's slot changed: is it the site's newest now? (Newer, or as new and of an earlier zone.) */
  private newer(siteKind: SiteKind, slot: Slot, at: number): void {
    const { newest } = siteKind;
    if (siteKind.stale) return;
    if (!newest || slot.timeMs > newest.timeMs || (slot.timeMs === newest.timeMs && at < siteKind.newestAt)) {
      siteKind.newest = slot;
      siteKind.newestAt = at;
    }
  }

  private findNewest(site: Site, kind: Kind, siteKind: SiteKind): void {
    siteKind.newest = undefined;
    siteKind.stale = false;
    for (const zone of site.zones) {
      if (zone.gone) continue;
      const slot = zone.kinds.get(kind);
      if (slot) this.newer(siteKind, slot, zone.at);
    }
  }

  /** Devices remembered (for /metrics and tests of the bound). */
  get deviceCount(): number {
    return this.byDevice.size;
  }

  get zoneCount(): number {
    return this.zones.size;
  }

  /** The latest reading of every device and kind. */
  latestReadings(): ReadingEvent[] {
    return [...this.byDevice.values()].flatMap((d) => [...d.kinds.values()].map((l) => l.reading));
  }

  zoneLatest(site: string, zone: string, kind: Kind): Latest | undefined {
    return this.sites.get(site)?.byName.get(zone)?.kinds.get(kind);
  }

  /** The latest of a kind in the zone a device was last seen in (no key built). */
  zoneLatestOf(source: string, site: string, zone: string, kind: Kind): Latest | undefined {
    const z = this.byDevice.get(source)?.zone;
    return z && !z.gone && z.name === zone && z.site.name === site ? z.kinds.get(kind) : this.zoneLatest(site, zone, kind);
  }

  deviceLatest(source: string, kind: Kind): Latest | undefined {
    return this.byDevice.get(source)?.kinds.get(kind);
  }

  zonesOf(site: string): readonly string[] {
    return this.sites.get(site)?.zones.flatMap((z) => (z.gone ? [] : [z.name])) ?? [];
  }

  /** The latest values of a kind across a site's zones. */
  siteLatest(site: string, kind: Kind): Latest[] {
    const out: Latest[] = [];
    for (const zone of this.sites.get(site)?.zones ?? []) {
      const l = zone.gone ? undefined : zone.kinds.get(kind);
      if (l) out.push(l);
    }
    return out;
  }

  /** The newest latest value of a kind across a site's zones (the first zone's, when several are as new). */
  siteNewest(site: string, kind: Kind): Latest | undefined {
    const s = this.sites.get(site);
    const siteKind = s?.kinds.get(kind);
    if (s && siteKind?.stale) this.findNewest(s, kind, siteKind);
    return siteKind?.newest;
  }

  /** Whether the latest value of a kind is true (or ≥ 1) in any zone of the site. */
  anyInSite(site: string, kind: Kind): boolean {
    return (this.sites.get(site)?.kinds.get(kind)?.truthy ?? 0) > 0;
  }
}
