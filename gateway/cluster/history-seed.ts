import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { History, HistoryItem } from '../core/history.js';
import { partitionOf } from '../core/partition.js';
import type { ReplayClock } from '../core/replay-clock.js';
import { rebuild, type RebuildResult } from '../rules/rebuild.js';
import type { CommandTimes, RulesRuntime } from '../rules/runtime.js';
import { parsePoint } from '../storage/point-parse.js';
import { entryOf, streamPages } from './fenced-commit.js';

/**
 * A partition whose shared state Redis lost (it came back empty: gw:epoch gone, gw:data-lost set)
 * starts as a single gateway does after a restart: its rule state rebuilt from InfluxDB's history
 * (rules/rebuild.ts: last commands, alarms, armed zones, the window's readings for timers and
 * minimum on/off times), so that an actuator already commanded is not commanded again and an
 * active alarm is not raised again.
 */
export interface HistorySeed {
  readonly history: History;
  /** PARTITIONS: which sites are this partition's. */
  readonly partitions: number;
  /** REBUILD_WAIT_MS: how long to wait for this node's spool to drain into InfluxDB first. */
  readonly waitMs: number;
}

/** The site an item is of; none for a device's status or silence (they name no site: every partition takes them, as the stream does). */
function siteOf(item: HistoryItem): string | undefined {
  return item.type === 'deviceStatus' || item.type === 'deviceSilence' ? undefined : item.event.site;
}

/**
 * The history of one partition's sites (the database holds every site's), without the readings and
 * reports `live()` names when the window is first read: those the partition's stream holds, to be
 * ruled live after the rebuild (they came after the loss; replayed here they would be taken for
 * ruled already, and what they command never sent).
 */
export function partitionHistory(history: History, partition: number, partitions: number, live: () => Promise<ReadonlySet<string>>): History {
  const ours = (item: HistoryItem): boolean => {
    const site = siteOf(item);
    return site === undefined || partitionOf(site, partitions) === partition;
  };
  return {
    description: history.description,
    caughtUp: (ms) => history.caughtUp(ms),
    latestBefore: async (ms) => (await history.latestBefore(ms)).filter(ours),
    async *read(range) {
      let skip: ReadonlySet<string> | undefined;
      for await (const page of history.read(range)) {
        skip ??= await live();
        const ids = skip;
        const mine = page.filter((item) => ours(item) && !((item.type === 'reading' || item.type === 'actuatorState') && ids.has(item.event.id)));
        if (mine.length > 0) yield mine;
      }
    },
    related: (ids, range) => history.related(ids, range),
  };
}

/** The event ids of the readings and reports in a partition's stream now. */
export async function streamEventIds(redis: Redis, partition: number): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const page of streamPages(redis, partition, '-', '+')) {
    for (const [, fields] of page) {
      const { line, at, ns } = entryOf(fields);
      const parsed = line === undefined ? undefined : parsePoint(line, at, ns);
      if (parsed?.type === 'reading' || parsed?.type === 'actuatorState') ids.add(parsed.event.id);
    }
  }
  return ids;
}

/** Rebuilds the runtime of `partition` from the history, then it is live (rules/rebuild.ts' dry run). */
export async function seedFromHistory(
  seed: HistorySeed,
  o: { redis: Redis; partition: number; runtime: RulesRuntime; clock: ReplayClock; now: () => number; log: Logger; commandTimes: CommandTimes },
): Promise<RebuildResult & { replayed: number }> {
  o.log.info({ partition: o.partition }, `partition ${o.partition} has no shared state after Redis lost the cluster's data: its rule state is rebuilt from InfluxDB's history before its readings are ruled`);
  const r = await rebuild({
    history: partitionHistory(seed.history, o.partition, seed.partitions, () => streamEventIds(o.redis, o.partition)),
    runtime: o.runtime,
    clock: o.clock,
    now: o.now,
    log: o.log,
    waitMs: seed.waitMs,
    commandTimes: o.commandTimes,
    noArmedFile: true,
  });
  // Stored events replayed (the counts by kind, `reading.<kind>`, are in `readings` already).
  return { ...r, replayed: Object.entries(r.counts).reduce((n, [k, v]) => (k.includes('.') ? n : n + v), 0) };
}
