import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import { logError, logWarn } from '../core/errors.js';
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
  /** How long a rebuild that cannot read the history is tried again before the partition is ruled from what it has (SEED_RETRY_MS; tests lower it). */
  readonly retryForMs?: number;
}

/**
 * A history that cannot be read (InfluxDB down, slow to start after the same reboot that emptied
 * Redis) is tried again this long, the partition's readings waiting in its stream; then it is ruled
 * live from what it has, for a rule such as smoke → HVAC off must not stay unruled while InfluxDB is away.
 */
export const SEED_RETRY_MS = 120_000;

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
  // Its own sites asked of InfluxDB (one `site =~` condition), not every site's points read and dropped here: 16 partitions read the window once between them, not 16 times.
  let mine: Promise<string[] | undefined> | undefined;
  // Not told (a database refusing SHOW TAG VALUES; down, the read after fails anyway): every site's, dropped here.
  const sites = (): Promise<string[] | undefined> =>
    (mine ??= history.sites?.().then((all) => all.filter((s) => partitionOf(s, partitions) === partition), () => undefined) ?? Promise.resolve(undefined));
  return {
    description: history.description,
    caughtUp: (ms) => history.caughtUp(ms),
    latestBefore: async (ms) => (await history.latestBefore(ms, await sites())).filter(ours),
    async *read(range) {
      const only = await sites();
      let skip: ReadonlySet<string> | undefined;
      for await (const page of history.read(only ? { ...range, sites: only } : range)) {
        skip ??= await live();
        const ids = skip;
        const kept = page.filter((item) => ours(item) && !((item.type === 'reading' || item.type === 'actuatorState') && ids.has(item.event.id)));
        if (kept.length > 0) yield kept;
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

/**
 * Rebuilds the runtime of `partition` from the history, then it is live (rules/rebuild.ts' dry run).
 * A try that could not read it (ok false) is `failed()` (the caller drops that runtime for a new
 * one: what it rebuilt is partial or nothing, not the truth to commit) and tried again, backing off,
 * for up to `retryForMs`; the last try's result stands then, said loudly.
 */
export async function seedFromHistory(
  seed: HistorySeed,
  o: { redis: Redis; partition: number; runtime: () => { runtime: RulesRuntime; clock: ReplayClock }; failed: () => Promise<void>; gone: () => boolean; now: () => number; log: Logger; commandTimes: CommandTimes },
): Promise<RebuildResult & { replayed: number }> {
  const p = o.partition;
  o.log.info({ partition: p }, `partition ${p} has no shared state after Redis lost the cluster's data: its rule state is rebuilt from InfluxDB's history before its readings are ruled`);
  const retryFor = seed.retryForMs ?? SEED_RETRY_MS;
  const first = Date.now();
  for (let attempt = 1; ; attempt++) {
    const { runtime, clock } = o.runtime();
    const r = await rebuild({
      history: partitionHistory(seed.history, p, seed.partitions, () => streamEventIds(o.redis, p)),
      runtime,
      clock,
      now: o.now,
      log: o.log,
      waitMs: seed.waitMs,
      commandTimes: o.commandTimes,
      noArmedFile: true,
    });
    // Stored events replayed (the counts by kind, `reading.<kind>`, are in `readings` already).
    const result = { ...r, replayed: Object.entries(r.counts).reduce((n, [k, v]) => (k.includes('.') ? n : n + v), 0) };
    if (r.ok || o.gone()) return result;
    const waitedMs = Date.now() - first;
    const fields = { partition: p, err: r.problem, history: seed.history.description, attempt, waitedMs };
    if (waitedMs >= retryFor) {
      logError(o.log, 'GW_ERR_HISTORY', fields, `partition ${p}: its rule state could not be rebuilt from InfluxDB's history in ${Math.round(waitedMs / 1000)} s (${attempt} tries): it is ruled live from what was read (nothing, if InfluxDB did not answer) and that is committed as its shared state; it is not rebuilt when InfluxDB is back. Armed zones not read are taken as disarmed, actuators may be commanded again and active alarms raised again`);
      return result;
    }
    const retryInMs = Math.min(backoffDelay(attempt - 1, 1000, 15_000), Math.max(0, retryFor - waitedMs));
    logWarn(o.log, 'GW_ERR_HISTORY', { ...fields, retryInMs }, `partition ${p}: its rule state could not be rebuilt from InfluxDB's history: nothing is committed and its readings wait in its stream; tried again in ${Math.round(retryInMs / 1000)} s (for up to ${Math.round(retryFor / 1000)} s, then it is ruled live from what it has)`);
    await o.failed();
    await sleep(retryInMs, undefined, { ref: false });
    if (o.gone()) return result;
  }
}
