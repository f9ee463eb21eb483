import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Kind, ReadingValue } from '../core/kinds.js';
import type { ReadingEvent } from '../core/events.js';

export interface Latest {
  readonly value: ReadingValue;
  readonly numeric: number;
  readonly timeMs: number;
  readonly device: string;
  /** The reading itself (the context when a timer re-runs rules for it). */
  readonly reading: ReadingEvent;
}

/**
 * What the rules know of the building: the latest value per device and per zone and kind,
 * the zones of each site, and which zones are armed. Fed by current readings only.
 */
export class ZoneState {
  private readonly byZone = new Map<string, Map<Kind, Latest>>();
  private readonly byDevice = new Map<string, Map<Kind, Latest>>();
  private readonly zonesBySite = new Map<string, Set<string>>();
  private readonly armedZones = new Map<string, boolean>();

  constructor(private readonly armedFile?: string) {}

  async load(): Promise<void> {
    if (!this.armedFile) return;
    try {
      const doc = JSON.parse(await readFile(this.armedFile, 'utf8')) as Record<string, boolean>;
      for (const [key, armed] of Object.entries(doc)) if (typeof armed === 'boolean') this.armedZones.set(key, armed);
    } catch {
      // First run: no zone is armed.
    }
  }

  update(r: ReadingEvent): void {
    const zoneKey = `${r.site}/${r.zone}`;
    // Recency by what the gateway saw: a device clock ahead of it must not make this reading look newer.
    const latest: Latest = { value: r.value, numeric: r.numeric, timeMs: r.judgedMs ?? r.timeMs, device: r.device, reading: r };
    let zone = this.byZone.get(zoneKey);
    if (!zone) {
      zone = new Map<Kind, Latest>();
      this.byZone.set(zoneKey, zone);
      let zones = this.zonesBySite.get(r.site);
      if (!zones) this.zonesBySite.set(r.site, (zones = new Set()));
      zones.add(r.zone);
    }
    zone.set(r.kind, latest);
    let device = this.byDevice.get(r.source);
    if (!device) this.byDevice.set(r.source, (device = new Map<Kind, Latest>()));
    device.set(r.kind, latest);
  }

  /** The latest reading of every device and kind. */
  latestReadings(): ReadingEvent[] {
    return [...this.byDevice.values()].flatMap((kinds) => [...kinds.values()].map((l) => l.reading));
  }

  zoneLatest(site: string, zone: string, kind: Kind): Latest | undefined {
    return this.byZone.get(`${site}/${zone}`)?.get(kind);
  }

  deviceLatest(source: string, kind: Kind): Latest | undefined {
    return this.byDevice.get(source)?.get(kind);
  }

  zonesOf(site: string): readonly string[] {
    return [...(this.zonesBySite.get(site) ?? [])];
  }

  /** The latest values of a kind across a site's zones. */
  siteLatest(site: string, kind: Kind): Latest[] {
    const out: Latest[] = [];
    for (const zone of this.zonesBySite.get(site) ?? []) {
      const l = this.byZone.get(`${site}/${zone}`)?.get(kind);
      if (l) out.push(l);
    }
    return out;
  }

  /** Every zone whose armed state was ever set, with it. */
  armedStates(): { site: string; zone: string; armed: boolean }[] {
    return [...this.armedZones].map(([key, armed]) => {
      const [site = '', zone = ''] = key.split('/');
      return { site, zone, armed };
    });
  }

  isArmed(site: string, zone: string): boolean {
    return this.armedZones.get(`${site}/${zone}`) ?? false;
  }

  private saving: Promise<void> = Promise.resolve();

  async setArmed(site: string, zone: string, armed: boolean): Promise<void> {
    this.armedZones.set(`${site}/${zone}`, armed);
    if (!this.armedFile) return;
    // One write at a time, each with the state as it is when it runs: arming messages in quick
    // succession must not race on the temp file, and the last write holds the last state.
    const file = this.armedFile;
    this.saving = this.saving.catch(() => undefined).then(async () => {
      const tmp = `${file}.tmp`;
      await writeFile(tmp, JSON.stringify(Object.fromEntries(this.armedZones), null, 2));
      await rename(tmp, file);
    });
    return this.saving;
  }
}
