import type { Logger } from 'pino';
import { GatewayError } from '../core/errors.js';
import type { History } from '../core/history.js';
import { InfluxHistory } from '../storage/history.js';
import { RulesSandbox, type SandboxOutput } from './sandbox.js';

/**
 * Replays stored readings from InfluxDB (DESIGN.md's layout) through a rule set as a dry run:
 * a sandbox on a manual clock that the readings' own times drive, so windows, held-for and
 * absence timers behave as they would have; what the rules would have published is listed,
 * nothing is published or written. Readings are read through the history port (the same one the
 * rules rebuild their state from at start), in time chunks, all kinds at once.
 */

export interface ReplayOptions {
  readonly influxUrl: string;
  readonly database: string;
  /** Where to read from (default: InfluxDB 1.x at influxUrl, database). */
  readonly history?: History;
  readonly fromMs: number;
  readonly toMs: number;
  /** Readings before `fromMs` replayed first to fill windows and state; their firings are not listed. */
  readonly warmupMs?: number;
  readonly rulesDir: string;
  readonly ruleFiles?: readonly string[];
  readonly site?: string;
  readonly zone?: string;
  /** How much time one query covers (default 15 minutes). */
  readonly chunkMs?: number;
  readonly log?: Logger;
  readonly onProgress?: (p: ReplayProgress) => void;
  readonly onFiring?: (f: ReplayFiring) => void;
}

export interface ReplayProgress {
  /** Simulated time reached, epoch ms. */
  readonly atMs: number;
  readonly fromMs: number;
  readonly toMs: number;
  readonly readings: number;
  readonly firings: number;
}

export interface ReplayFiring {
  readonly time: string;
  readonly timeMs: number;
  readonly type: 'command' | 'alert';
  readonly topic: string;
  readonly rule: string;
  /** A command's data, or an alert's message. */
  readonly data: unknown;
  /** The stored reading that caused it (its event_id). */
  readonly correlationId: string;
}

export interface ReplaySummary {
  readonly fromMs: number;
  readonly toMs: number;
  readonly readings: number;
  readonly firings: readonly ReplayFiring[];
  readonly byRule: Readonly<Record<string, number>>;
}

function firing(o: SandboxOutput): ReplayFiring | undefined {
  const [root] = o.topic.split('/');
  if (root !== 'commands' && root !== 'alerts') return undefined;
  const p = o.payload as { source?: string; correlationid?: string; time?: string; data?: { message?: string } };
  const timeMs = Date.parse(p.time ?? '') || o.at;
  return {
    time: new Date(timeMs).toISOString(),
    timeMs,
    type: root === 'commands' ? 'command' : 'alert',
    topic: o.topic,
    rule: (p.source ?? '').replace(/^rules\//, ''),
    data: root === 'commands' ? p.data : p.data?.message,
    correlationId: p.correlationid ?? '',
  };
}

export async function replay(o: ReplayOptions): Promise<ReplaySummary> {
  if (!(o.toMs > o.fromMs)) throw new GatewayError('GW_ERR_REPLAY', `the range is empty: from ${new Date(o.fromMs).toISOString()} must be before to ${new Date(o.toMs).toISOString()}`);
  const startMs = o.fromMs - (o.warmupMs ?? 0);
  const chunkMs = o.chunkMs ?? 15 * 60_000;
  const history = o.history ?? new InfluxHistory({ url: o.influxUrl, database: o.database });
  const sandbox = await RulesSandbox.create({ rulesDir: o.rulesDir, ruleFiles: o.ruleFiles, startMs, log: o.log, keepReadings: false });
  try {
    const problems = sandbox.ruleProblems;
    if (problems.length > 0) throw new GatewayError('GW_ERR_RULE_FILE', problems.map((p) => p.replace(/^GW_ERR_RULE_FILE: /, '')).join('; '));
    // Armed zones as they stood when the replay starts, then their changes as they come.
    for (const item of await history.latestBefore(startMs)) {
      if (item.type !== 'zoneArmed') continue;
      if ((o.site !== undefined && item.event.site !== o.site) || (o.zone !== undefined && item.event.zone !== o.zone)) continue;
      await sandbox.service.state.setArmed(item.event.site, item.event.zone, item.event.armed);
    }
    const firings: ReplayFiring[] = [];
    const byRule: Record<string, number> = {};
    let readings = 0;
    const collect = (): void => {
      for (const out of sandbox.takeOutputs()) {
        const f = firing(out);
        if (!f || f.timeMs < o.fromMs) continue;
        firings.push(f);
        byRule[f.rule] = (byRule[f.rule] ?? 0) + 1;
        o.onFiring?.(f);
      }
    };
    // Progress at each chunkMs of replay time, whatever chunks the history yields (it plans them by count).
    let to = startMs;
    const reach = async (ms: number): Promise<void> => {
      while (to < o.toMs && to + chunkMs <= ms) {
        to = Math.min(to + chunkMs, o.toMs);
        await sandbox.advanceTo(to);
        collect();
        o.onProgress?.({ atMs: to, fromMs: o.fromMs, toMs: o.toMs, readings, firings: firings.length });
      }
    };
    for await (const items of history.read({ fromMs: startMs, toMs: o.toMs, types: ['reading', 'zoneArmed'], site: o.site, zone: o.zone, chunkMs })) {
      for (const item of items) {
        await reach(item.event.timeMs);
        await sandbox.advanceTo(item.event.timeMs);
        if (item.type === 'zoneArmed') await sandbox.service.state.setArmed(item.event.site, item.event.zone, item.event.armed);
        else if (item.type === 'reading') {
          await sandbox.feed(item.event);
          if (item.event.timeMs >= o.fromMs) readings++;
        }
        collect();
      }
    }
    await reach(o.toMs + chunkMs);
    return { fromMs: o.fromMs, toMs: o.toMs, readings, firings, byRule };
  } finally {
    await sandbox.stop();
  }
}
