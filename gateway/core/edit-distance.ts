/**
 * Edits (insert, delete, substitute, swap two neighbours) from one name to another: what "did you
 * mean" suggestions rank by. A swap counts as one edit (`fna` for `fan`), the commonest typo.
 */
export function editDistance(a: string, b: string): number {
  // Optimal string alignment: Levenshtein's rows, plus the row before last for a swap.
  let before: number[] = [];
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      next.push(d);
    }
    [before, row] = [row, next];
  }
  return row[b.length]!;
}

/** The one of `names` nearest `name` (case aside: names differing in case only come first), when near enough to be a typo of it. */
export function nearestName(name: string, names: Iterable<string>): string | undefined {
  const lower = name.toLowerCase();
  const limit = Math.max(1, Math.min(2, Math.floor(name.length / 2)));
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const n of names) {
    // An edit changes the length by one at most: a name further off in length is no typo (and costs no distance).
    if (n === name || Math.abs(n.length - name.length) > limit) continue;
    const d = editDistance(lower, n.toLowerCase());
    if (d < bestD && d <= limit) [best, bestD] = [n, d];
  }
  return best;
}
