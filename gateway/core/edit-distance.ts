/** Edits (insert, delete, substitute) from one name to another: what "did you mean" suggestions rank by. */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    row = next;
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
    if (n === name) continue;
    const d = editDistance(lower, n.toLowerCase());
    if (d < bestD && d <= limit) [best, bestD] = [n, d];
  }
  return best;
}
