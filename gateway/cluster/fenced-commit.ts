import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import { logError, logWarn } from '../core/errors.js';
import { outputKey, type RuleOutput } from '../rules/outputs.js';
import { encodeChange, type StateChange } from '../rules/shared-state.js';
import type { Lease } from './leases.js';
import { KEYS, type ScriptName } from './redis-keys.js';

/** A stream entry as XREAD / XRANGE return it. */
export type StreamEntry = [id: string, fields: string[]];

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
function commitArgs(token: number, c: CommitContent): (string | number)[] {
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

/**
 * A takeover: what the last owner committed and may not have sent (an outbox of an older version
 * holds bare commands and alerts), sent in its order, then taken out of the outbox.
 */
export async function sendOutbox(o: { redis: Redis; partition: number; outbox: Readonly<Record<string, string>>; send: (out: RuleOutput) => Promise<void>; log: Logger }): Promise<void> {
  const sent: string[] = [];
  for (const [key, json] of Object.entries(o.outbox)) {
    try {
      const value = JSON.parse(json) as RuleOutput | Extract<RuleOutput, { type: 'outcome' }>['outcome'];
      await o.send('type' in value ? value : { type: 'outcome', outcome: value });
      sent.push(key);
    } catch (err) {
      o.log.error({ err, key }, 'could not send an output from the outbox');
    }
  }
  if (sent.length > 0) await o.redis.hdel(KEYS.outbox(o.partition), ...sent).catch(() => undefined);
}

/**
 * A partition stream entry's fields: `l` a spool line, `a` when its record was appended, `p` 'ms'
 * for a line at ms (else ns), `n` the forwarding node; or `k` 'ack' and `x` an acknowledgement.
 */
export function entryOf(fields: readonly string[]): { line: string | undefined; at: number; ns: boolean; ack: string | undefined } {
  let line: string | undefined;
  let at = 0;
  let ns = true;
  let ack: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const key = fields[i];
    if (key === 'l') line = fields[i + 1];
    else if (key === 'a') at = Number(fields[i + 1]);
    else if (key === 'p') ns = fields[i + 1] !== 'ms';
    else if (key === 'x') ack = fields[i + 1];
  }
  return { line, at, ns, ack };
}

/**
 * What an output of the rules means for the commit: whether it must go to the outbox (an alarm
 * update not worth a stored point need not), the shared state it changes (an alarm: every update,
 * so that the shared state is the alarm as of the cursor; a takeover's replay does not count the
 * window's firings again), and the actuator (`site/zone/actuator`) whose command, saga or report
 * it may have changed.
 */
export function effectsOf(out: RuleOutput): { durable: boolean; change?: StateChange; actuator?: string } {
  switch (out.type) {
    case 'alarm': {
      const t = out.event;
      const change: StateChange = { type: 'alarm', alarmId: t.alarmId, transition: t.active ? t : undefined };
      // Not worth a stored point: not worth a commit either, it rides along with the next one.
      if (!out.persist) return { durable: false, change };
      return { durable: true, change, ...(t.actuator !== undefined ? { actuator: `${t.site}/${t.zone}/${t.actuator}` } : {}) };
    }
    case 'outcome': {
      const o = out.outcome;
      return { durable: true, ...(o.kind === 'command' ? { actuator: `${o.site}/${o.zone}/${o.actuator}` } : {}) };
    }
    case 'status':
    case 'resend': {
      const c = out.type === 'status' ? out.event : out.command;
      return { durable: true, actuator: `${c.site}/${c.zone}/${c.actuator}` };
    }
  }
}

/** A partition's stream from `from` to `to` (inclusive), a page at a time. */
export async function* streamPages(redis: Redis, partition: number, from: string, to: string): AsyncIterable<StreamEntry[]> {
  let start = from;
  for (;;) {
    const page = (await redis.xrange(KEYS.stream(partition), start, to, 'COUNT', 1000)) as StreamEntry[];
    if (page.length === 0) return;
    yield page;
    const last = page.at(-1)![0];
    if (last === to || page.length < 1000) return;
    start = `(${last}`;
  }
}
