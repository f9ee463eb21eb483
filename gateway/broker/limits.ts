import { performance } from 'node:perf_hooks';

/**
 * The broker's limits, each a small piece with no knowledge of MQTT clients: a per-client
 * token bucket, a back-off after failed logins, topic length and depth, and a scanner that
 * finds an oversized MQTT packet from its header before the packet is buffered.
 */

export type Now = () => number;
const monotonic: Now = () => performance.now();

/**
 * A token bucket: `rate` publishes per second on average, bursts up to `burst`. `reserve()`
 * takes a token and says how long to wait for it (0 when one was there): the caller holds
 * the publish that long, which holds the client's socket (backpressure), so nothing is lost.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: Now = monotonic,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes a token if one is there (true), else takes nothing (false): for refusing rather than waiting. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }

  /** Milliseconds until the reserved token is there (0 = now). */
  reserve(): number {
    this.refill();
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.rate;
  }
}

/**
 * Failed logins per key (an address, or an address and username): after `after` failures in
 * a row, the key is locked out for 1 s, doubling with each further failure up to `maxMs`.
 * A success clears the key. Entries unused for longer than `maxMs` are forgotten.
 */
export class LoginBackoff {
  private readonly entries = new Map<string, { failures: number; until: number; seen: number }>();

  constructor(
    private readonly after: number,
    private readonly maxMs: number,
    private readonly now: Now = monotonic,
  ) {}

  /** Milliseconds the key is still locked out for (0 = may try). */
  lockedFor(key: string): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    return Math.max(0, e.until - this.now());
  }

  failed(key: string): void {
    const now = this.now();
    this.sweep(now);
    const e = this.entries.get(key) ?? { failures: 0, until: 0, seen: now };
    e.failures += 1;
    e.seen = now;
    if (this.after > 0 && e.failures >= this.after) {
      e.until = now + Math.min(this.maxMs, 1000 * 2 ** Math.min(30, e.failures - this.after));
    }
    this.entries.set(key, e);
  }

  succeeded(key: string): void {
    this.entries.delete(key);
  }

  private sweep(now: number): void {
    if (this.entries.size < 10_000) return;
    for (const [key, e] of this.entries) if (e.until < now && now - e.seen > this.maxMs) this.entries.delete(key);
  }
}

export interface TopicLimits {
  readonly maxLength: number;
  readonly maxLevels: number;
}

/** Why a topic (or filter) breaks the limits, or undefined. Length is in UTF-8 bytes, as on the wire. */
export function topicProblem(topic: string, limits: TopicLimits): { reason: 'topic_too_long' | 'topic_too_deep'; detail: string } | undefined {
  const bytes = Buffer.byteLength(topic);
  if (bytes > limits.maxLength) return { reason: 'topic_too_long', detail: `topic is ${bytes} bytes, the limit is ${limits.maxLength} (MAX_TOPIC_LENGTH)` };
  let levels = 1;
  for (let i = topic.indexOf('/'); i !== -1; i = topic.indexOf('/', i + 1)) levels++;
  if (levels > limits.maxLevels) return { reason: 'topic_too_deep', detail: `topic has ${levels} levels, the limit is ${limits.maxLevels} (MAX_TOPIC_LEVELS)` };
  return undefined;
}

/**
 * Follows the MQTT framing of a byte stream (fixed header byte, remaining length as 1–4
 * bytes of varint, body) without buffering anything, and reports the first packet whose
 * declared length exceeds `maxBytes`, or a length that is not a valid varint. The parser
 * in Aedes would otherwise buffer a packet of up to 256 MiB before looking at it. `allow`
 * raises the limit once the client is known (a bridge's, MAX_BRIDGE_PACKET_BYTES).
 */
export class FrameScanner {
  /** 0: at a packet's first byte; 1: in the length; 2: in the body. */
  private state: 0 | 1 | 2 = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  private setting = 'MAX_PACKET_BYTES';

  constructor(private maxBytes: number) {}

  /** From the next packet on, up to `maxBytes` (named by `setting` when one is too large). */
  allow(maxBytes: number, setting: string): void {
    if (maxBytes <= this.maxBytes) return;
    this.maxBytes = maxBytes;
    this.setting = setting;
  }

  /** Feeds a chunk; returns a problem as soon as one is seen (then stop feeding). */
  push(chunk: Buffer): string | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 2) {
        const step = Math.min(this.remaining, chunk.length - i);
        i += step;
        this.remaining -= step;
        if (this.remaining === 0) this.state = 0;
        continue;
      }
      if (this.state === 0) {
        i++;
        this.state = 1;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      const byte = chunk[i++]!;
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (byte & 0x80) {
        if (this.lengthBytes === 4) return 'malformed remaining length (more than 4 bytes)';
        continue;
      }
      if (this.length > this.maxBytes) return `packet of ${this.length} bytes, the limit is ${this.maxBytes} (${this.setting})`;
      this.remaining = this.length;
      this.state = this.remaining === 0 ? 0 : 2;
    }
    return undefined;
  }
}
