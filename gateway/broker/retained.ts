import type { Logger } from 'pino';
import { LogLimiter } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';

export interface RetainedOptions {
  readonly metrics: Metrics;
  /** Bytes (payload and topic) one owner may keep retained (0 = no limit). */
  readonly maxBytesPerClient: number;
  /**
   * …and one that speaks for many devices (MQTT_MAX_RETAINED_BYTES_PER_BRIDGE: a `bridge` or `admin`
   * credential, the anonymous clients when their role is admin): Zigbee2MQTT retains its
   * bridge/devices, bridge/info and a discovery config per entity, which a Home Assistant on this
   * broker needs after its own restart. `isBridge` says which owners those are.
   */
  readonly maxBytesPerBridge?: number;
  readonly isBridge?: (owner: string) => boolean;
  /** Bytes all owners together may keep retained (0 = no limit). */
  readonly maxBytes: number;
  /** Where a refusal over a budget is said (once per owner and reason per 10 s; a dead letter is said by ingest). */
  readonly log?: Logger;
  readonly now?: () => number;
}

export type RetainVerdict = 'retain' | 'invalid' | 'client_budget' | 'total_budget' | 'other_owner';

/** What one retained message costs besides its payload and topic: the broker's packet and this ledger's entry. */
const OVERHEAD_BYTES = 128;

/**
 * Who keeps how many retained bytes: a ledger of `topic → {owner, bytes}` with a budget per
 * owner (a credential's name) and in all. Aedes keeps whatever carries the retain flag and
 * hands all of it to every new subscriber of a matching filter; the publish hook asks here
 * first and clears the flag of what may not be kept (the message is still delivered live:
 * MQTT 3.1.1 has no way to say "not retained"). Only what ingest accepted is retained, never a
 * dead letter. An empty payload deletes, and is always allowed.
 */
export class RetainedLedger {
  private readonly topics = new Map<string, { owner: string; bytes: number }>();
  private readonly byOwner = new Map<string, number>();
  private total = 0;
  private readonly limiter: LogLimiter | undefined;

  constructor(private readonly o: RetainedOptions) {
    o.metrics.readFrom('retainedBytes', () => this.total);
    this.limiter = o.log && new LogLimiter(o.log, 1, 10_000, o.now ?? Date.now);
  }

  get bytes(): number {
    return this.total;
  }

  /** Whose budget a retained topic counts against (a snapshot keeps it, broker/file-persistence.ts). */
  ownerOf(topic: string): string | undefined {
    return this.topics.get(topic)?.owner;
  }

  /**
   * Decides on a retained publish and, when it is kept, books it (replacing what the topic had).
   * `ownOnly`: the owner may not replace or clear what another owner retained there (a device's
   * credential on Tasmota's discovery topics, which Home Assistant reads).
   */
  decide(owner: string, topic: string, payloadBytes: number, valid: boolean, ownOnly = false): RetainVerdict {
    const old = this.topics.get(topic);
    if (ownOnly && old && old.owner !== owner) {
      this.o.metrics.retainedRefused.inc({ reason: 'other_owner' });
      this.said(owner, topic, 'other_owner', old.owner);
      return 'other_owner';
    }
    if (payloadBytes === 0) {
      this.o.metrics.retainedCleared.inc();
      if (old) this.release(topic, old);
      return 'retain';
    }
    const verdict = valid ? this.fits(owner, topic, payloadBytes, old) : 'invalid';
    if (verdict !== 'retain') {
      this.o.metrics.retainedRefused.inc({ reason: verdict });
      // Refused for room, an update must not leave the value it replaces retained: a dead device's
      // will ("offline") refused would leave "online" for every later subscriber. Nothing retained is honest.
      if (old && verdict !== 'invalid') {
        this.release(topic, old);
        this.drop(topic);
      }
      if (verdict !== 'invalid') this.said(owner, topic, verdict);
      return verdict;
    }
    if (old) this.release(topic, old);
    const bytes = cost(topic, payloadBytes);
    this.topics.set(topic, { owner, bytes });
    this.byOwner.set(owner, (this.byOwner.get(owner) ?? 0) + bytes);
    this.total += bytes;
    return 'retain';
  }

  private said(owner: string, topic: string, reason: 'client_budget' | 'total_budget' | 'other_owner', holder?: string): void {
    const suppressed = this.limiter?.admit(`${reason}|${owner}`);
    if (suppressed === undefined || suppressed === false) return;
    if (reason === 'other_owner') {
      return void this.o.log?.warn({ owner, topic, reason, holder, suppressed }, `retained message of ${owner} on ${topic} delivered but not retained (nor cleared): ${holder ?? ''} retained it, and a credential bound to one device may not replace another's`);
    }
    const bridge = this.bridge(owner);
    const perOwner = bridge ? `${this.o.maxBytesPerBridge} bytes for one bridge credential (MQTT_MAX_RETAINED_BYTES_PER_BRIDGE)` : `${this.o.maxBytesPerClient} bytes for one credential (MQTT_MAX_RETAINED_BYTES_PER_CLIENT)`;
    const limit = reason === 'client_budget' ? perOwner : `${this.o.maxBytes} bytes in all (MQTT_MAX_RETAINED_BYTES)`;
    this.o.log?.warn({ owner, topic, reason, suppressed }, `retained message of ${owner} on ${topic} delivered but not retained: the retained budget is ${limit}${suppressed > 0 ? ` (${suppressed} more refusals since the last line)` : ''}`);
  }

  private fits(owner: string, topic: string, payloadBytes: number, old: { owner: string; bytes: number } | undefined): RetainVerdict {
    const bytes = cost(topic, payloadBytes);
    const { maxBytes } = this.o;
    const perOwner = this.bridge(owner) ? this.o.maxBytesPerBridge! : this.o.maxBytesPerClient;
    const mine = (this.byOwner.get(owner) ?? 0) - (old?.owner === owner ? old.bytes : 0);
    if (perOwner > 0 && mine + bytes > perOwner) return 'client_budget';
    if (maxBytes > 0 && this.total - (old?.bytes ?? 0) + bytes > maxBytes) return 'total_budget';
    return 'retain';
  }

  /** How a retained message is taken out of the broker's store (set once the store exists). */
  dropWith(drop: (topic: string) => void): void {
    this.drop = drop;
  }

  private drop: (topic: string) => void = () => undefined;

  private bridge(owner: string): boolean {
    return this.o.maxBytesPerBridge !== undefined && (this.o.isBridge?.(owner) ?? false);
  }

  private release(topic: string, entry: { owner: string; bytes: number }): void {
    this.topics.delete(topic);
    this.total -= entry.bytes;
    const left = (this.byOwner.get(entry.owner) ?? 0) - entry.bytes;
    if (left > 0) this.byOwner.set(entry.owner, left);
    else this.byOwner.delete(entry.owner);
  }
}

function cost(topic: string, payloadBytes: number): number {
  return payloadBytes + Buffer.byteLength(topic) + OVERHEAD_BYTES;
}
