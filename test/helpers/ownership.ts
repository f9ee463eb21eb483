/** Ownership intervals of partitions, from the nodes' own logs ('partition acquired' / 'partition released'). */
import type { LogLine } from './gateway.js';

export interface Interval {
  readonly partition: number;
  readonly node: string;
  readonly token: number;
  readonly from: number;
  /** When the node stopped acting on it (its log), or when it was killed. */
  readonly to: number;
}

/** One run's intervals; one still open at the end of its log closes at `endedAt` (a kill), or stays open (Infinity). */
export function intervals(logs: readonly LogLine[], endedAt = Number.POSITIVE_INFINITY): Interval[] {
  const open = new Map<number, { node: string; token: number; from: number }>();
  const out: Interval[] = [];
  for (const l of logs) {
    const partition = l['partition'] as number;
    if (l.msg === 'partition acquired') open.set(partition, { node: l['node'] as string, token: l['fence'] as number, from: l['at'] as number });
    if (l.msg === 'partition released') {
      const o = open.get(partition);
      if (o) out.push({ partition, ...o, to: l['at'] as number });
      open.delete(partition);
    }
  }
  for (const [partition, o] of open) out.push({ partition, ...o, to: endedAt });
  return out;
}

/** Pairs of intervals of one partition that overlap (none, if ownership was exclusive); and tokens must grow with time. */
export function overlaps(all: readonly Interval[]): string[] {
  const problems: string[] = [];
  const byPartition = new Map<number, Interval[]>();
  for (const i of all) byPartition.set(i.partition, [...(byPartition.get(i.partition) ?? []), i]);
  for (const [p, list] of byPartition) {
    list.sort((a, b) => a.from - b.from);
    for (let k = 1; k < list.length; k++) {
      const before = list[k - 1]!;
      const after = list[k]!;
      if (after.from < before.to) problems.push(`partition ${p}: ${before.node}#${before.token} [${before.from}, ${before.to}] overlaps ${after.node}#${after.token} from ${after.from}`);
      if (after.token <= before.token) problems.push(`partition ${p}: token ${after.token} of ${after.node} is not after ${before.token} of ${before.node}`);
    }
  }
  return problems;
}
