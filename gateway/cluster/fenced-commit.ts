import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import { logError, logWarn } from '../core/errors.js';
import { outputKey, type RuleOutput } from '../rules/outputs.js';
import { encodeChange, type StateChange } from '../rules/shared-state.js';
import type { Lease } from './leases.js';
import { KEYS, type ScriptName } from './redis-keys.js';

export type Script = (name: ScriptName, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/** What one fenced commit writes. */
export interface CommitContent {
  readonly changes: readonly StateChange[];
  /** Outputs that must go out even if this node dies after the commit (the outbox). */
  readonly durable: readonly RuleOutput[];
  /** Every timer due up to here has fired. */
  readonly watermark: number;
  /** The last stream entry ruled (undefined: not moved). */
  readonly cursor: string | undefined;
  /** Stream entries before this id are not needed by any rebuild any more ('' = keep). */
  readonly trimBefore: string;
}

/** The `commit` script's arguments (cluster/redis-keys.ts): sets, deletes, the outbox, the trim. */
export function commitArgs(token: number, c: CommitContent): (string | number)[] {
  // The last change of a field wins (an alarm raised and cleared in one commit is deleted).
  const fields = new Map<string, string | undefined>();
  for (const change of c.changes) {
    const [field, value] = encodeChange(change);
    fields.delete(field);
    fields.set(field, value);
  }
  fields.set('clock', String(c.watermark));
  if (c.cursor !== undefined) fields.set('cursor', c.cursor);
  const sets: string[] = [];
  const dels: string[] = [];
  for (const [field, value] of fields) {
    if (value === undefined) dels.push(field);
    else sets.push(field, value);
  }
  const outbox: string[] = [];
  for (const o of c.durable) outbox.push(outputKey(o), JSON.stringify(o));
  return [token, sets.length / 2, ...sets, dels.length, ...dels, outbox.length / 2, ...outbox, c.trimBefore];
}

/**
 * Writes one commit with the lease's fencing token, retrying while the lease lasts. 'fenced': Redis
 * refused the token (another node owns the partition now); 'expired': the lease ran out first.
 */
export async function fencedCommit(o: { script: Script; lease: Lease; log: Logger; stopped: () => boolean }, c: CommitContent): Promise<'ok' | 'fenced' | 'expired' | 'stopped'> {
  const p = o.lease.partition;
  const args = commitArgs(o.lease.token, c);
  for (let attempt = 0; ; attempt++) {
    if (o.stopped() && attempt > 0) return 'stopped';
    if (o.lease.validUntil <= Date.now()) {
      if (c.durable.length > 0) logWarn(o.log, 'GW_ERR_REDIS_UNREACHABLE', { partition: p, dropped: c.durable.length }, 'the lease ran out before the rules\' outputs were committed: not sent; the next owner rules those readings again');
      return 'expired';
    }
    try {
      const ok = (await o.script('commit', [KEYS.fence(p), KEYS.state(p), KEYS.outbox(p), KEYS.stream(p)], args)) as number;
      if (ok !== 1) {
        logError(o.log, 'GW_ERR_FENCED', { partition: p, fence: o.lease.token, dropped: c.durable.length }, 'Redis refused a write with an old fencing token: another node owns this partition now; letting it go');
        return 'fenced';
      }
      return 'ok';
    } catch (err) {
      if (attempt === 0) o.log.warn({ err: (err as Error).message, partition: p }, 'could not commit the rules\' state; retrying while the lease lasts');
      await sleep(backoffDelay(attempt, 50, 500));
    }
  }
}
