/**
 * Redrive: kept dead letters (read back through the archive port) fed through ingest again, once
 * what made them fail is fixed (a device placed, a kind added, a mapping written). Each is taken
 * as received at its original time, so what it yields now is stored at that time, with ids that
 * depend only on the message and that time: a second redrive writes the same points again, so
 * each reading is in InfluxDB exactly once. What still fails is counted, not dead-lettered again.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import { keptTimeProblem, type DeadLetterArchive, type KeptDeadLetter } from '../core/archive.js';
import { GatewayError } from '../core/errors.js';
import { DEAD_LETTER_REASONS, type DeadLetterReason } from '../core/events.js';
import { readBody, sendJson, tooLarge } from '../core/http-json.js';
import type { Ingest } from './ingest.js';

/** A dead letter fed through ingest again (Ingest.redrive): at its own time, its failures only noted. */
export interface Redriving {
  readonly now: number;
  readonly failures: { reason: DeadLetterReason; detail: string }[];
  /** Readings it gave that the series' memory knew (kept before), and new ones. */
  known: number;
  fresh: number;
}

/** What one redriven dead letter gave: readings kept (new, or all known: `alreadyStored`), failures, or `nothing` to store. */
export interface RedriveResult {
  readonly kept: boolean;
  readonly alreadyStored: boolean;
  readonly nothing: boolean;
  readonly failures: { reason: DeadLetterReason; detail: string }[];
}

export interface RedriveRequest {
  readonly reason: string;
  readonly sinceMs: number;
  readonly untilMs?: number;
  /** Only the dead letters of this native device (`<family>:<native id>`), as their detail names it. */
  readonly device?: string;
}

export interface RedriveSummary {
  readonly reason: string;
  readonly since: string;
  readonly until: string;
  /** Dead letters read back. */
  readonly read: number;
  /** Fed through ingest and newly kept (readings stored at their original time). */
  readonly redriven: number;
  /**
   * Fed through ingest, and every reading they gave was one the gateway remembers keeping (the last
   * 64 of each series since it started): not written again. Older ones it no longer remembers are
   * written again to the same points and counted as redriven: stored once either way.
   */
  readonly alreadyStored: number;
  /** Fed through ingest, nothing failed and nothing was stored (recognised, with no reading in it now): not redriven. */
  readonly nothingToStore: number;
  /** Still failing, by the reason they fail for now. */
  readonly stillFailing: Readonly<Record<string, number>>;
  /** Not redriven: their payload was not kept whole (larger than the dead letter keeps, or not UTF-8), or another device's. */
  readonly skipped: Readonly<Record<string, number>>;
}

export interface RedriverOptions {
  readonly ingest: Ingest;
  readonly archive: DeadLetterArchive;
  readonly log: Logger;
  /** Runs first (the device map is read again, so an assignment just written counts). */
  readonly before?: () => Promise<void>;
  /** Resolves when everything kept so far is durable. */
  readonly committed: () => Promise<void>;
  readonly now: () => number;
}

const PAGE = 1000;
const MAX_BODY = 16 * 1024;
const TRUNCATED = /… \(\d+ bytes in all\)$/;

/** Why a redrive of `device`'s letters (all, when undefined) passes over this one; undefined: it is fed through ingest. */
export function redriveSkip(dl: Pick<KeptDeadLetter, 'detail' | 'payload'>, device?: string): string | undefined {
  if (device !== undefined && !dl.detail.startsWith(`${device} `) && !dl.detail.startsWith(`${device}:`)) return 'another device';
  if (TRUNCATED.test(dl.payload) || dl.payload.startsWith('base64:')) return 'payload not kept whole';
  return undefined;
}

export class Redriver {
  private running: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: RedriverOptions) {}

  /** One redrive at a time: a second waits for the first. */
  redrive(req: RedriveRequest): Promise<RedriveSummary> {
    const run = this.running.then(() => this.run(req));
    this.running = run.catch(() => undefined);
    return run;
  }

  private async run(req: RedriveRequest): Promise<RedriveSummary> {
    await this.o.before?.();
    const untilMs = req.untilMs ?? this.o.now() + 1;
    const stillFailing: Record<string, number> = {};
    const skipped: Record<string, number> = {};
    let read = 0;
    let redriven = 0;
    let alreadyStored = 0;
    let nothingToStore = 0;
    let after = req.sinceMs - 1;
    for (;;) {
      const page = await this.o.archive.read(req.reason, after, untilMs, PAGE);
      for (const dl of page) {
        read++;
        after = dl.timeMs;
        const skip = redriveSkip(dl, req.device);
        if (skip !== undefined) {
          skipped[skip] = (skipped[skip] ?? 0) + 1;
          continue;
        }
        const r = this.o.ingest.redrive(dl.clientId, dl.topic, Buffer.from(dl.payload, 'utf8'), dl.timeMs);
        if (r.kept && r.alreadyStored) alreadyStored++;
        else if (r.kept) redriven++;
        else if (r.nothing) nothingToStore++;
        for (const f of r.failures) stillFailing[f.reason] = (stillFailing[f.reason] ?? 0) + 1;
      }
      if (page.length < PAGE) break;
      await yieldToLoop();
    }
    await this.o.committed();
    const summary = { reason: req.reason, since: new Date(req.sinceMs).toISOString(), until: new Date(untilMs).toISOString(), read, redriven, alreadyStored, nothingToStore, stillFailing, skipped };
    this.o.log.info(summary, 'dead letters redriven');
    return summary;
  }

  /** `POST /api/deadletters/redrive` with `{"reason": "…", "since": ms|ISO, "until"?: …, "device"?: "<family>:<id>"}`. */
  readonly route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const reply = (status: number, body: unknown): void => sendJson(res, status, body);
    // A JSON body cannot be sent cross-site without the browser asking first: no redrive from a stray web page.
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return reply(415, { error: 'the body must be application/json' });
    const text = await readBody(req, MAX_BODY);
    if (text === undefined) return tooLarge(res, MAX_BODY);
    let parsed: RedriveRequest;
    try {
      parsed = parseRequest(text);
    } catch (err) {
      return reply(400, { error: (err as Error).message });
    }
    try {
      reply(200, await this.redrive(parsed));
    } catch (err) {
      this.o.log.error({ err, code: err instanceof GatewayError ? err.code : undefined }, 'dead-letter redrive failed');
      reply(502, { error: (err as Error).message });
    }
  };
}

function time(v: unknown, name: string): number {
  const ms = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : Number.NaN;
  const problem = keptTimeProblem(ms, name);
  if (problem !== undefined) throw new Error(problem);
  return ms;
}

function parseRequest(text: string): RedriveRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error('the body is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('the body must be a JSON object');
  const o = doc as Record<string, unknown>;
  if (typeof o['reason'] !== 'string' || !(DEAD_LETTER_REASONS as readonly string[]).includes(o['reason'])) {
    throw new Error(`reason must be a dead-letter reason: ${DEAD_LETTER_REASONS.join(', ')}; got ${JSON.stringify(o['reason'])}`);
  }
  const sinceMs = time(o['since'], 'since');
  const untilMs = o['until'] === undefined ? undefined : time(o['until'], 'until');
  // until is excluded: at or before since selects nothing, which a summary of 0 read would hide.
  if (untilMs !== undefined && untilMs <= sinceMs) throw new Error(`until must be after since (got since ${new Date(sinceMs).toISOString()}, until ${new Date(untilMs).toISOString()})`);
  return {
    reason: o['reason'],
    sinceMs,
    ...(untilMs === undefined ? {} : { untilMs }),
    ...(typeof o['device'] === 'string' ? { device: o['device'] } : {}),
  };
}
