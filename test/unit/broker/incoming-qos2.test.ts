/**
 * Incoming QoS 2 ids as the publish pipeline asks for them before ingest, and as Aedes 1.2 then
 * uses them (gateway/broker/incoming-qos2.ts; Aedes' calls in node_modules/aedes/lib/handlers/
 * publish.js and pubrel.js): a message is admitted once per message id until PUBREL, one over
 * the limits is refused before anything takes it, and a PUBLISH that comes while the first under
 * its id is still being taken waits for it.
 */
import type { Client } from 'aedes';
import { describe, expect, it } from 'vitest';
import { IncomingQos2, InflightLimitError } from '../../../gateway/broker/incoming-qos2.js';
import type { Stored } from '../../../gateway/broker/session-queue.js';

const client = (id: string, closed = false): Client => ({ id, closed }) as unknown as Client;
const publish = (messageId: number, bytes = 10): Stored => ({ cmd: 'publish', topic: 't', payload: Buffer.alloc(bytes), qos: 2, messageId });

function setup(maxInflightQos2 = 2, maxInflightQos2Bytes = 1000) {
  const refused: string[] = [];
  const incoming = new IncomingQos2({ maxInflightQos2, maxInflightQos2Bytes }, { onInflightRefused: (_c, detail) => refused.push(detail) });
  return { incoming, refused };
}

/** What Aedes does with a PUBLISH once the pipeline called back: known → PUBREC only; new → store (then publish, PUBREC). */
async function aedesPublish(incoming: IncomingQos2, c: Client, packet: Stored): Promise<'known' | 'stored'> {
  try {
    await incoming.get(c, packet);
    return 'known';
  } catch {
    await incoming.store(c, packet);
    return 'stored';
  }
}

describe('incoming QoS 2 ids admitted before ingest', () => {
  it('admits a message id once until PUBREL, whatever is sent under it meanwhile, across a reconnect', async () => {
    const { incoming } = setup();
    const first = publish(7);
    expect(incoming.admit(client('d'), first)).toEqual({ kind: 'new' });
    expect(await aedesPublish(incoming, client('d'), first)).toBe('stored');
    // Another payload under the same id, with or without DUP, on this connection or the next.
    expect(incoming.admit(client('d'), { ...publish(7, 99), dup: true })).toEqual({ kind: 'known' });
    expect(incoming.admit(client('d'), publish(7, 5))).toEqual({ kind: 'known' });
    expect(await aedesPublish(incoming, client('d'), publish(7, 5))).toBe('known');
    expect(incoming.count).toBe(1);
    await incoming.del(client('d'), { cmd: 'pubrel', messageId: 7 });
    expect(incoming.admit(client('d'), publish(7))).toEqual({ kind: 'new' });
  });

  it('refuses the message over the limits before it is taken, counted once per connection', () => {
    const { incoming, refused } = setup(2, 25);
    expect(incoming.admit(client('d'), publish(1))).toEqual({ kind: 'new' });
    expect(incoming.admit(client('d'), publish(2))).toEqual({ kind: 'new' });
    const over = incoming.admit(client('d'), publish(3));
    expect(over.kind === 'refused' && over.error).toBeInstanceOf(InflightLimitError);
    expect(refused).toHaveLength(1);
    // Aedes has closed the connection: what follows in its read is not taken, nor counted again.
    expect(incoming.admit(client('d', true), publish(4))).toMatchObject({ kind: 'refused', error: { message: 'connection closed' } });
    expect(refused).toHaveLength(1);
    expect(incoming.count).toBe(2);
    // Bytes: another client id, its own allowance.
    expect(incoming.admit(client('e'), publish(1, 20))).toEqual({ kind: 'new' });
    expect(incoming.admit(client('e'), publish(2, 6))).toMatchObject({ kind: 'refused' });
    expect(refused[1]).toContain('MQTT_MAX_INFLIGHT_QOS2_BYTES');
    // One message alone over the byte limit.
    expect(incoming.admit(client('f'), publish(1, 26))).toMatchObject({ kind: 'refused' });
  });

  it('makes a PUBLISH sent again while the first is being taken wait, then known; new again if the first was not taken', async () => {
    const { incoming } = setup();
    const first = publish(3);
    expect(incoming.admit(client('d'), first)).toEqual({ kind: 'new' });
    const again = incoming.admit(client('d'), { ...publish(3), dup: true });
    if (again.kind !== 'wait') throw new Error(`expected wait, got ${again.kind}`);
    let settled = false;
    void again.settled.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    expect(await aedesPublish(incoming, client('d'), first)).toBe('stored');
    await again.settled;
    expect(incoming.admit(client('d'), { ...publish(3), dup: true })).toEqual({ kind: 'known' });

    // Ingest refused the first (the spool failing): the id is free, a resend is taken.
    const lost = publish(4);
    expect(incoming.admit(client('d'), lost)).toEqual({ kind: 'new' });
    const waiting = incoming.admit(client('d'), publish(4));
    incoming.abandon(client('d'), lost);
    if (waiting.kind === 'wait') await waiting.settled;
    expect(incoming.count).toBe(1);
    expect(incoming.admit(client('d'), publish(4))).toEqual({ kind: 'new' });
  });

  it('does not keep an id reserved before its clean session ended', async () => {
    const { incoming } = setup();
    const first = publish(5);
    expect(incoming.admit(client('d'), first)).toEqual({ kind: 'new' });
    incoming.drop('d');
    await incoming.store(client('d'), first);
    expect(incoming.count).toBe(0);
    await expect(incoming.get(client('d'), { cmd: 'pubrel', messageId: 5 })).rejects.toThrow('no such packet');
  });
});
