/**
 * What reaches a subscriber (gateway/broker/subscriptions.ts and delivery.ts, Aedes'
 * authorizeForward), with fake clients whose unsent bytes the test sets: MQTT_MAX_SUBSCRIPTIONS,
 * the granted QoS of a wildcard filter, the role checked again, and a subscriber that falls
 * behind losing QoS 0 and being cut at a QoS 1 message once it has read nothing for a while.
 */
import type { Client, PublishPacket, Subscription } from 'aedes';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../../gateway/broker/acl.js';
import type { Access } from '../../../gateway/broker/access.js';
import { Delivery } from '../../../gateway/broker/delivery.js';
import { SubscriptionLedger } from '../../../gateway/broker/subscriptions.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { count, testMetrics } from '../../helpers/ports.js';

interface FakeConn {
  writableLength: number;
  bytesWritten: number;
  destroyed: boolean;
  destroy(): void;
}
function fakeClient(id: string, clean = true): Client & { conn: FakeConn } {
  const conn: FakeConn = { writableLength: 0, bytesWritten: 0, destroyed: false, destroy: () => void (conn.destroyed = true) };
  return { id, clean, conn } as unknown as Client & { conn: FakeConn };
}
const sub = (topic: string, qos: 0 | 1 | 2) => ({ topic, qos }) as Subscription;
const message = (topic: string, qos: 0 | 1 | 2) => ({ cmd: 'publish', topic, payload: Buffer.from('x'), qos, retain: false, dup: false, brokerId: 'b', brokerCounter: 1 }) as PublishPacket & { brokerId: string; brokerCounter: number };

describe('SubscriptionLedger', () => {
  it('refuses a filter beyond MQTT_MAX_SUBSCRIPTIONS, counts one subscribed again once, and frees a place on unsubscribe', () => {
    const ledger = new SubscriptionLedger(2);
    const c = fakeClient('c');
    expect(ledger.grant(c, sub('a/#', 1))).toBe(true);
    expect(ledger.grant(c, sub('b/#', 1))).toBe(true);
    expect(ledger.grant(c, sub('a/#', 0))).toBe(true);
    expect(ledger.grant(c, sub('c/#', 1))).toBe(false);
    ledger.removed(c, ['a/#']);
    expect(ledger.grant(c, sub('c/#', 1))).toBe(true);
    expect(ledger.count(c)).toBe(2);
  });

  it('hands the persistence only what a persistent session was granted, once', () => {
    const ledger = new SubscriptionLedger(0);
    const persistent = fakeClient('p', false);
    ledger.grant(persistent, sub('a/#', 1));
    expect(ledger.takeGranted(persistent).map((s) => s.topic)).toEqual(['a/#']);
    expect(ledger.takeGranted(persistent)).toEqual([]);
    const clean = fakeClient('c', true);
    ledger.grant(clean, sub('a/#', 1));
    expect(ledger.takeGranted(clean)).toEqual([]);
  });

  it('gives the QoS a message goes out at: at most the highest granted among the matching filters [MQTT-3.8.4-6]', () => {
    const ledger = new SubscriptionLedger(0);
    const c = fakeClient('c');
    ledger.grant(c, sub('sensors/hq/#', 1));
    expect(ledger.deliveryQos(c, 'sensors/hq/f1/t/temperature', 2)).toBe(1);
    ledger.grant(c, sub('sensors/+/f1/t/temperature', 2));
    expect(ledger.deliveryQos(c, 'sensors/hq/f1/t/temperature', 2)).toBe(2);
    expect(ledger.deliveryQos(c, 'sensors/hq/f2/t/temperature', 2)).toBe(1);
    expect(ledger.deliveryQos(c, 'sensors/hq/f2/t/temperature', 0)).toBe(0);
  });
});

function setup(principal: Principal = { name: 'ops', role: 'admin', anonymous: false }) {
  const clock = new ManualClock(0);
  const metrics = testMetrics(clock);
  const subscriptions = new SubscriptionLedger(0);
  const cut: string[] = [];
  const access = {
    principal: () => principal,
    subscriptions,
    isCut: (c: Client) => cut.includes(c.id),
    cutSlow: (c: Client, detail: string) => {
      cut.push(c.id);
      void detail;
    },
  } as unknown as Access;
  const delivery = new Delivery({ access, metrics, maxClientBufferBytes: 1000, slowClientTimeoutMs: 10_000, now: () => clock.now() });
  return { clock, metrics, subscriptions, cut, forward: delivery.authorizeForward };
}

describe('Delivery (authorizeForward)', () => {
  it('lowers a QoS 2 message to the QoS 1 a wildcard filter was granted', () => {
    const { forward, subscriptions } = setup();
    const c = fakeClient('c');
    subscriptions.grant(c, sub('sensors/#', 1));
    expect(forward(c, message('sensors/hq/f1/t/temperature', 2))).toMatchObject({ qos: 1, topic: 'sensors/hq/f1/t/temperature' });
  });

  it('delivers nothing a device may not subscribe to, whatever filled its queue', () => {
    const { forward } = setup({ name: 't-a', role: 'device', device: 't-a', site: 'hq', zone: 'f1', anonymous: false });
    const c = fakeClient('t-a');
    expect(forward(c, message('sensors/hq/f2/t-b/temperature', 1))).toBeNull();
    expect(forward(c, message('commands/hq/f1/hvac', 1))).not.toBeNull();
  });

  it('skips QoS 0 messages (counted) to a subscriber MQTT_MAX_CLIENT_BUFFER_BYTES behind, and cuts it after MQTT_SLOW_CLIENT_TIMEOUT_MS reading nothing', async () => {
    const { forward, clock, metrics, cut } = setup();
    const c = fakeClient('stuck');
    c.conn.writableLength = 1000;
    expect(forward(c, message('a/b', 0))).toBeNull();
    clock.advanceBy(10_001);
    expect(forward(c, message('a/b', 0))).toBeNull();
    expect(cut).toEqual(['stuck']);
    expect(await count(metrics, 'gateway_slow_subscriber_dropped_total')).toBe(2);
  });

  it('writes a QoS 1 message to a subscriber behind but reading, and cuts one that has read nothing for a second', () => {
    const { forward, clock, cut } = setup();
    const c = fakeClient('slow');
    c.conn.writableLength = 5000;
    expect(forward(c, message('a/b', 1))).not.toBeNull();
    clock.advanceBy(900);
    c.conn.bytesWritten += 100; // it read some
    expect(forward(c, message('a/b', 1))).not.toBeNull();
    clock.advanceBy(999);
    expect(forward(c, message('a/b', 1))).not.toBeNull();
    expect(cut).toEqual([]);
    clock.advanceBy(1);
    // Returned as it is (a persistent session keeps it queued; the write fails on the closed socket).
    expect(forward(c, message('a/b', 1))).not.toBeNull();
    expect(cut).toEqual(['slow']);
  });

  it('lets everything through to a subscriber that keeps up', () => {
    const { forward, cut } = setup();
    const c = fakeClient('fine');
    c.conn.writableLength = 999;
    expect(forward(c, message('a/b', 0))).not.toBeNull();
    expect(cut).toEqual([]);
  });
});
