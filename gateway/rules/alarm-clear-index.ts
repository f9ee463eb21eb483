import type { Alarm } from './alarm.js';

/** The active alarms that only an explicit clear condition ends, by `site/zone`: a reading there must be checked. */
export class ClearConditionIndex {
  private readonly byZone = new Map<string, Set<Alarm>>();

  add(a: Alarm): void {
    const zone = `${a.site}/${a.zone}`;
    let set = this.byZone.get(zone);
    if (!set) this.byZone.set(zone, (set = new Set()));
    set.add(a);
  }

  delete(a: Alarm): void {
    const zone = `${a.site}/${a.zone}`;
    const set = this.byZone.get(zone);
    if (set?.delete(a) && set.size === 0) this.byZone.delete(zone);
  }

  /** On the hot path: no key built while no alarm waits anywhere. */
  waitsIn(site: string, zone: string): boolean {
    return this.byZone.size > 0 && (this.byZone.get(`${site}/${zone}`)?.size ?? 0) > 0;
  }

  in(site: string, zone: string): readonly Alarm[] {
    return [...(this.byZone.get(`${site}/${zone}`) ?? [])];
  }
}
