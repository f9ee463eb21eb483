/**
 * Which devices the silence watch forgets when it is full. A flood of made-up ids (one credential
 * that may publish for any device, or many credentials) must not leave a real device heard after
 * it unwatched, nor push out a detector that reports every 10 minutes: the entries that matter
 * least go first, the ones first seen first among equals.
 */

/** What the silence watch knows of one device. */
export interface Heard {
  last: number;
  /** Moving average of the time between two messages. */
  interval: number | undefined;
  silent: boolean;
  /** Said `offline` itself: not expected to report, so not watched. */
  away: boolean;
  /**
   * Said `online` itself (its status topic or availability: a last will, or its bridge's word),
   * and neither offline nor a reading since: its will or bridge says when it goes, so its quiet
   * is not silence (a relay or a plug reports its state only on change).
   */
  vouched?: boolean;
  /** Heard once since it was first seen (a made-up id of a flood is never heard again). */
  once: boolean;
}

/**
 * Lower goes first. 0: said offline (not watched anyway; heard again, it is watched afresh).
 * 1: heard once and already reported silent (a flood's ids end here). 2: heard once, not silent
 * yet. 3: reported silent (its id is kept aside, to announce it back when heard). 4: reporting, the one
 * heard longest ago first.
 */
function rank(d: Heard): number {
  if (d.away) return 0;
  if (d.once) return d.silent ? 1 : 2;
  return d.silent ? 3 : 4;
}

/**
 * Forgets `n` devices (fewer if there are not as many), the least useful first and, within a rank,
 * the one heard longest ago. Walks the table twice, and sorts only when it must forget devices
 * heard more than once: called for a batch of newcomers at a time, never on a known device's reading.
 */
export function forgetLeastUseful(devices: Map<string, Heard>, n: number, forgotten: (device: string, heard: Heard) => void): void {
  const counts = [0, 0, 0, 0, 0];
  for (const d of devices.values()) counts[rank(d)]!++;
  // Every rank below `cut` goes, and of rank `cut` the `need` heard longest ago.
  let cut = 0;
  let before = 0;
  while (cut < 4 && before + counts[cut]! < n) before += counts[cut++]!;
  let need = Math.min(n - before, counts[cut]!);
  // Up to rank 2, the table's order is already the order heard: an entry is added when its device
  // is first heard and never moved, and one heard once was last heard then.
  let threshold = Number.POSITIVE_INFINITY;
  if (cut > 2 && need > 0) {
    const lasts = new Float64Array(counts[cut]!);
    let i = 0;
    for (const d of devices.values()) if (rank(d) === cut) lasts[i++] = d.last;
    lasts.sort();
    threshold = lasts[need - 1]!;
    // Those heard before the threshold all go; of those heard exactly at it, only what is left.
    let below = 0;
    while (below < need && lasts[below]! < threshold) below++;
    need -= below;
  }
  for (const [device, d] of devices) {
    const r = rank(d);
    if (r > cut) continue;
    // Of rank `cut`: all heard before the threshold (taken off `need` above), then, while needed,
    // those heard at it, the first seen first (without a threshold: the table's order is the order heard).
    if (r === cut && !(d.last < threshold && threshold !== Number.POSITIVE_INFINITY)) {
      if (need <= 0 || d.last > threshold) continue;
      need--;
    }
    devices.delete(device);
    forgotten(device, d);
  }
}
