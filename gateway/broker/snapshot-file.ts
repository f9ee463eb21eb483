import { open, readFile, rename, rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { crc32 } from 'node:zlib';
import { replaceDurably } from '../core/durable-file.js';
import type { HeldBy } from './client-ids.js';
import type { Stored } from './session-queue.js';

/**
 * The file a single gateway keeps its broker's state in across restarts (broker/file-persistence.ts):
 * retained messages, persistent sessions (subscriptions, queued messages, when their client left)
 * and wills. Binary, so that payloads are written as they are (no base64, no copy):
 *
 *   "GWMQTT1\n", then records `u32 head length, u32 payload length, head (JSON), payload`,
 *   the last one's head `{"t":"end","n":<records before it>}`, then the CRC-32 of all before it.
 *
 * Written whole to a temporary file, fsynced, renamed over the old one and the directory fsynced:
 * a crash leaves the previous snapshot or the new one, never a mix. A file that does not check
 * out (damaged, truncated, another program's) is refused as a whole.
 */
const MAGIC = Buffer.from('GWMQTT1\n');
/** Buffers per writev call (IOV_MAX is 1024 on Linux). */
const IOV = 1024;

export interface RetainedRecord {
  readonly topic: string;
  readonly qos: number;
  /** Whose retained budget it counts against (broker/retained.ts). */
  readonly owner: string;
  readonly payload: Buffer;
}

export interface SessionRecord {
  readonly id: string;
  /** When its client left (epoch ms); null: connected when the snapshot was taken. */
  readonly since: number | null;
  readonly subs: readonly { readonly topic: string; readonly qos: number }[];
  /** Oldest first, as they would be delivered. */
  readonly queued: readonly Stored[];
  /** The credential holding its client id (client-ids.ts); absent in older snapshots. */
  readonly holder?: HeldBy | undefined;
}

export interface WillRecord {
  readonly id: string;
  readonly topic: string;
  readonly qos: number;
  readonly retain: boolean;
  /** The broker (process) that held it: Aedes publishes wills of brokers it does not hear from. */
  readonly brokerId: string;
  readonly payload: Buffer;
}

export interface Snapshot {
  readonly retained: readonly RetainedRecord[];
  readonly sessions: readonly SessionRecord[];
  readonly wills: readonly WillRecord[];
}

type Head =
  | { t: 'r'; topic: string; qos: number; owner: string }
  | { t: 's'; id: string; since: number | null; subs: { topic: string; qos: number }[]; holder?: HeldBy }
  | { t: 'q'; cmd: string; topic?: string; qos?: number; retain?: boolean; dup?: boolean; messageId?: number; brokerId?: string; brokerCounter?: number; string?: boolean }
  | { t: 'w'; id: string; topic: string; qos: number; retain: boolean; brokerId: string }
  | { t: 'end'; n: number };

/**
 * The snapshot as batches of buffers to write, in order, encoded as they are asked for (the writer
 * awaits a write between batches, so a large state never holds the event loop for long). Heads
 * and small payloads are copied into shared blocks; large payloads are referenced, not copied.
 * The records are what the caller gathered: their payloads must not change meanwhile (they never do).
 */
export function* encode(s: Snapshot): Generator<Buffer[]> {
  const out = new BlockWriter();
  let n = 0;
  const add = (head: Head, payload?: Buffer): void => {
    out.record(JSON.stringify(head), payload);
    n++;
  };
  yield [MAGIC];
  for (const r of s.retained) {
    add({ t: 'r', topic: r.topic, qos: r.qos, owner: r.owner }, r.payload);
    if (out.full) yield out.take();
  }
  for (const session of s.sessions) {
    add({ t: 's', id: session.id, since: session.since, subs: session.subs.map((x) => ({ topic: x.topic, qos: x.qos })), ...(session.holder ? { holder: session.holder } : {}) });
    for (const p of session.queued) {
      const { payload, cmd, topic, qos, retain, dup, messageId, brokerId, brokerCounter } = p;
      add({ t: 'q', cmd, topic, qos, retain, dup, messageId, brokerId, brokerCounter, ...(typeof payload === 'string' ? { string: true } : {}) }, typeof payload === 'string' ? Buffer.from(payload) : payload);
    }
    if (out.full) yield out.take();
  }
  for (const w of s.wills) {
    add({ t: 'w', id: w.id, topic: w.topic, qos: w.qos, retain: w.retain, brokerId: w.brokerId }, w.payload);
    if (out.full) yield out.take();
  }
  add({ t: 'end', n });
  yield out.take();
}

/** Payloads up to this size are copied into the blocks; larger ones go to writev as they are. */
const COPY_BELOW = 4096;
const BLOCK = 256 * 1024;
/** A batch is handed to the writer past this many bytes or records. */
const BATCH_BYTES = 1 << 20;
const BATCH_RECORDS = 2000;

class BlockWriter {
  private parts: Buffer[] = [];
  private block = Buffer.allocUnsafe(BLOCK);
  private at = 0;
  private from = 0;
  private batchBytes = 0;
  private batchRecords = 0;

  get full(): boolean {
    return this.batchBytes >= BATCH_BYTES || this.batchRecords >= BATCH_RECORDS;
  }

  record(head: string, payload: Buffer | undefined): void {
    const headLength = Buffer.byteLength(head);
    const payloadLength = payload?.length ?? 0;
    const copied = payloadLength <= COPY_BELOW ? payloadLength : 0;
    const need = 8 + headLength + copied;
    if (this.at + need > this.block.length) this.newBlock(need);
    this.block.writeUInt32LE(headLength, this.at);
    this.block.writeUInt32LE(payloadLength, this.at + 4);
    this.block.write(head, this.at + 8, 'utf8');
    this.at += 8 + headLength;
    if (payload && copied > 0) {
      payload.copy(this.block, this.at);
      this.at += copied;
    } else if (payload && payloadLength > 0) {
      this.cut();
      this.parts.push(payload);
    }
    this.batchBytes += 8 + headLength + payloadLength;
    this.batchRecords++;
  }

  take(): Buffer[] {
    this.cut();
    const parts = this.parts;
    this.parts = [];
    this.batchBytes = 0;
    this.batchRecords = 0;
    return parts;
  }

  /** What the block holds since the last cut becomes a part (the block goes on after it). */
  private cut(): void {
    if (this.at > this.from) this.parts.push(this.block.subarray(this.from, this.at));
    this.from = this.at;
  }

  private newBlock(need: number): void {
    this.cut();
    this.block = Buffer.allocUnsafe(Math.max(BLOCK, need));
    this.at = 0;
    this.from = 0;
  }
}

/** Reads a snapshot back; throws (with what is wrong) on anything that does not check out. */
export function decode(data: Buffer): Snapshot {
  if (data.length < MAGIC.length + 4 || !data.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not a broker snapshot (wrong header)');
  const body = data.subarray(0, data.length - 4);
  if ((crc32(body) >>> 0) !== data.readUInt32LE(data.length - 4)) throw new Error('checksum mismatch (damaged or truncated)');
  const retained: RetainedRecord[] = [];
  const sessions: { id: string; since: number | null; subs: { topic: string; qos: number }[]; queued: Stored[]; holder?: HeldBy | undefined }[] = [];
  const wills: WillRecord[] = [];
  let at = MAGIC.length;
  for (let n = 0; ; n++) {
    if (at + 8 > body.length) throw new Error(`truncated at record ${n}`);
    const headLength = body.readUInt32LE(at);
    const payloadLength = body.readUInt32LE(at + 4);
    if (at + 8 + headLength + payloadLength > body.length) throw new Error(`truncated at record ${n}`);
    const head = JSON.parse(body.toString('utf8', at + 8, at + 8 + headLength)) as Head;
    // A copy: the records outlive the file's buffer, which would otherwise be held whole by each payload.
    const payload = Buffer.from(body.subarray(at + 8 + headLength, at + 8 + headLength + payloadLength));
    at += 8 + headLength + payloadLength;
    switch (head.t) {
      case 'r':
        retained.push({ topic: head.topic, qos: head.qos, owner: head.owner, payload });
        break;
      case 's':
        sessions.push({ id: head.id, since: head.since, subs: head.subs, queued: [], holder: head.holder });
        break;
      case 'q': {
        const session = sessions.at(-1);
        if (!session) throw new Error(`record ${n}: a queued message before any session`);
        const { t: _t, string, ...fields } = head;
        session.queued.push({ ...fields, ...(fields.cmd === 'publish' ? { payload: string ? payload.toString() : payload } : {}) });
        break;
      }
      case 'w':
        wills.push({ id: head.id, topic: head.topic, qos: head.qos, retain: head.retain, brokerId: head.brokerId, payload });
        break;
      case 'end':
        if (head.n !== n || at !== body.length) throw new Error(`the end record says ${head.n} records, ${n} were read`);
        return { retained, sessions, wills };
      default:
        throw new Error(`record ${n}: unknown kind ${JSON.stringify((head as { t: unknown }).t)}`);
    }
  }
}

/**
 * Writes the batches to `file` atomically and durably (temporary file, fsync, rename, directory
 * fsync), with the CRC-32 of all of it at the end. Each batch is asked for after the previous one
 * is written: `busy` (ms) is the time spent encoding and checksumming, on the event loop.
 */
export function writeAtomically(file: string, batches: Iterator<Buffer[], unknown>): Promise<{ busyMs: number; bytes: number }> {
  return replaceDurably(file, `${file}.tmp`, 0o600, async (handle) => {
    let busyMs = 0;
    let bytes = 4;
    let crc = 0;
    for (;;) {
      const started = performance.now();
      const next = batches.next();
      if (next.done) break;
      for (const b of next.value) {
        crc = crc32(b, crc);
        bytes += b.length;
      }
      busyMs += performance.now() - started;
      for (let i = 0; i < next.value.length; i += IOV) await writevAll(handle, next.value.slice(i, i + IOV));
    }
    const tail = Buffer.allocUnsafe(4);
    tail.writeUInt32LE(crc >>> 0, 0);
    await writevAll(handle, [tail]);
    return { busyMs, bytes };
  });
}

/** writev may write less than asked (a signal, a full pipe): the rest is written again. */
async function writevAll(handle: Awaited<ReturnType<typeof open>>, buffers: Buffer[]): Promise<void> {
  let left = buffers;
  for (;;) {
    const total = left.reduce((n, b) => n + b.length, 0);
    if (total === 0) return;
    const { bytesWritten } = await handle.writev(left);
    if (bytesWritten === total) return;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of left) {
      if (skip >= b.length) skip -= b.length;
      else {
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
    }
    left = rest;
  }
}

/**
 * The snapshot in `file`: undefined when there is none; `damaged` (with the reason, the file
 * moved aside to `<file>.damaged-<time>`) when it cannot be read.
 */
export async function readSnapshot(file: string, now: number): Promise<{ snapshot?: Snapshot; damaged?: { reason: string; movedTo: string } }> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    return { damaged: { reason: (err as Error).message, movedTo: await moveAside(file, now) } };
  }
  try {
    return { snapshot: decode(data) };
  } catch (err) {
    return { damaged: { reason: (err as Error).message, movedTo: await moveAside(file, now) } };
  }
}

async function moveAside(file: string, now: number): Promise<string> {
  const to = `${file}.damaged-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
  // Moved, not deleted: an operator may want it. A file that cannot even be moved is removed, so that the next save is not refused too.
  await rename(file, to).catch(() => rm(file, { force: true }));
  return to;
}
