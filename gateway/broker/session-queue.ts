/**
 * One persistent session's outgoing queue (broker/persistence.ts): oldest first, with indexes by
 * the broker's stamp and by message id, so that a delivery, a PUBACK or a skipped delivery finds
 * its entry without a scan.
 */

/** A packet as Aedes stores and hands back: a publish (or the PUBREL that replaced it), with its broker's stamp. */
export interface Stored {
  cmd: string;
  topic?: string;
  payload?: Buffer | string;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  messageId?: number | undefined;
  brokerId?: string;
  brokerCounter?: number;
}

interface Entry {
  packet: Stored;
  readonly bytes: number;
  readonly key: string | undefined;
  messageId: number | undefined;
}

/** One persistent session's outgoing queue, oldest first. */
export class Queue {
  private next = 0;
  readonly entries = new Map<number, Entry>();
  private readonly byKey = new Map<string, number>();
  private readonly byMessageId = new Map<number, number>();
  bytes = 0;

  /** `bytes`: what it costs (queuedCost), given when the caller has it already (one publish to many sessions). */
  push(packet: Stored, bytes = queuedCost(packet)): void {
    const key = keyOf(packet);
    const seq = this.next++;
    this.entries.set(seq, { packet, bytes, key, messageId: packet.messageId });
    if (key !== undefined) this.byKey.set(key, seq);
    if (packet.messageId !== undefined) this.byMessageId.set(packet.messageId, seq);
    this.bytes += bytes;
  }

  get size(): number {
    return this.entries.size;
  }

  dropOldest(): boolean {
    const first = this.entries.keys().next();
    if (first.done) return false;
    this.remove(first.value);
    return true;
  }

  /** The delivery of a queued message got its message id (or, for QoS 2, its PUBREL replaced it). */
  update(packet: Stored): void {
    const seq = packet.brokerId !== undefined ? this.byKey.get(keyOf(packet) ?? '') : undefined;
    if (seq !== undefined) {
      const e = this.entries.get(seq)!;
      if (e.messageId !== undefined && this.byMessageId.get(e.messageId) === seq) this.byMessageId.delete(e.messageId);
      e.messageId = packet.messageId;
      if (packet.messageId !== undefined) this.byMessageId.set(packet.messageId, seq);
      return;
    }
    const byId = packet.messageId !== undefined ? this.byMessageId.get(packet.messageId) : undefined;
    if (byId !== undefined) this.entries.get(byId)!.packet = packet;
    // Not found: dropped over a bound meanwhile. It is delivered all the same; its PUBACK clears nothing.
  }

  /** Removes by message id, or, without one, by its broker stamp (a delivery the gateway skipped). */
  clear(packet: Stored): Stored | undefined {
    const seq = packet.messageId !== undefined ? this.byMessageId.get(packet.messageId) : this.byKey.get(keyOf(packet) ?? '');
    if (seq === undefined) return undefined;
    const e = this.entries.get(seq)!;
    this.remove(seq);
    return e.packet;
  }

  private remove(seq: number): void {
    const e = this.entries.get(seq);
    if (!e) return;
    this.entries.delete(seq);
    this.bytes -= e.bytes;
    if (e.key !== undefined && this.byKey.get(e.key) === seq) this.byKey.delete(e.key);
    if (e.messageId !== undefined && this.byMessageId.get(e.messageId) === seq) this.byMessageId.delete(e.messageId);
  }
}

function keyOf(p: Stored): string | undefined {
  return p.brokerId !== undefined && p.brokerCounter !== undefined ? `${p.brokerId}:${p.brokerCounter}` : undefined;
}

/**
 * What keeping one queued message costs besides its payload and topic, in bytes. Measured, not
 * guessed (`node --expose-gc --import tsx bench/queued-message-cost.ts`: heapUsed + arrayBuffers
 * after gc, 200 sessions × 1,000 one-byte messages on 31-byte topics, Node 20): 275 bytes a
 * message while running (payload and topic shared among sessions: the entry, its copy of the
 * packet, its key and index slots), 301 as restored from a snapshot (each its own topic, payload
 * and strings): 301 − 32 = 269, rounded up. It also covers a message's record in the snapshot
 * file (181 bytes there in all, so ~150 besides payload and topic).
 */
export const QUEUED_MESSAGE_OVERHEAD = 280;

/** What a queued message counts against MQTT_MAX_QUEUED_BYTES*: payload, topic and the overhead above. */
export function queuedCost(p: Stored): number {
  return payloadBytes(p) + (p.topic === undefined ? 0 : Buffer.byteLength(p.topic)) + QUEUED_MESSAGE_OVERHEAD;
}

export function payloadBytes(p: { payload?: Buffer | string | undefined }): number {
  const payload = p.payload;
  return payload === undefined ? 0 : typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
}

/** The copy a queue keeps: the fields a delivery needs, the payload shared (never mutated). */
export function copyOf(p: Stored): Stored {
  return { cmd: p.cmd, topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup, messageId: p.messageId, brokerId: p.brokerId, brokerCounter: p.brokerCounter };
}

/**
 * Drops the oldest message of the largest queue until `over()` says the total holds: a max-heap of
 * the queues by bytes, built once a call, so one publish fanned out to N sessions away over the
 * total costs N log N, not N × N (a scan for the largest per drop held the event loop for seconds
 * with 20,000 sessions). Calls `dropped` per message dropped and `emptied` per queue left empty.
 */
export function trimLargest(queues: ReadonlyMap<string, Queue>, over: () => boolean, drop: (queue: Queue) => void, dropped: (clientId: string) => void, emptied: (clientId: string) => void): void {
  if (!over()) return;
  const heap: [string, Queue][] = [];
  for (const entry of queues) if (entry[1].size > 0) heap.push(entry);
  const larger = (i: number, j: number): boolean => heap[i]![1].bytes > heap[j]![1].bytes;
  const down = (i: number): void => {
    for (;;) {
      const [l, r] = [2 * i + 1, 2 * i + 2];
      let top = i;
      if (l < heap.length && larger(l, top)) top = l;
      if (r < heap.length && larger(r, top)) top = r;
      if (top === i) return;
      [heap[i], heap[top]] = [heap[top]!, heap[i]!];
      i = top;
    }
  };
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  while (heap.length > 0 && over()) {
    const [clientId, queue] = heap[0]!;
    drop(queue);
    dropped(clientId);
    if (queue.size === 0) {
      emptied(clientId);
      heap[0] = heap[heap.length - 1]!;
      heap.pop();
    }
    if (heap.length > 0) down(0);
  }
}
