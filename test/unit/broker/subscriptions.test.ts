/** The filters a client was granted (gateway/broker/subscriptions.ts), with MQTT_MAX_SUBSCRIPTIONS=0 (no limit). */
import { EventEmitter } from 'node:events';
import type { Client } from 'aedes';
import { describe, expect, it } from 'vitest';
import { HeldSubscriptions } from '../../../gateway/broker/held-subscriptions.js';
import { SubscriptionLedger } from '../../../gateway/broker/subscriptions.js';

describe('the subscription ledger', () => {
  it('holds any number of filters without a limit, and still delivers at the granted QoS', () => {
    const ledger = new SubscriptionLedger(0);
    const client = { id: 'c', clean: true } as Client;
    for (let i = 0; i < 1000; i++) expect(ledger.grant(client, { topic: `t/${i}`, qos: 1 })).toBe(true);
    ledger.grant(client, { topic: 'x/#', qos: 0 });
    expect(ledger.count(client)).toBe(1001);
    expect(ledger.deliveryQos(client, 'x/y', 2)).toBe(0);
    ledger.removed(client, ['x/#']);
    expect(ledger.deliveryQos(client, 't/7', 2)).toBe(1);
  });

  it('raises the lowest QoS again when the filter that held it is granted anew at a higher one', () => {
    const ledger = new SubscriptionLedger(0);
    const client = { id: 'c', clean: true } as Client;
    ledger.grant(client, { topic: 'a/#', qos: 0 });
    ledger.grant(client, { topic: 'b/#', qos: 2 });
    ledger.grant(client, { topic: 'a/#', qos: 1 });
    expect(ledger.deliveryQos(client, 'a/x', 2)).toBe(1);
    expect(ledger.deliveryQos(client, 'b/x', 2)).toBe(2);
  });

  it('bounds the filters of a credential over its clients and of all clients, and frees them on UNSUBSCRIBE or when the client leaves', () => {
    const ledger = new SubscriptionLedger(10, 10, new HeldSubscriptions(15, 25));
    const conn = (): EventEmitter => new EventEmitter();
    const a1 = { id: 'graf:1', clean: true, conn: conn() } as unknown as Client;
    const a2 = { id: 'graf:2', clean: false, conn: conn() } as unknown as Client;
    const admin = { id: 'ops', clean: true, conn: conn() } as unknown as Client;
    for (let i = 0; i < 10; i++) expect(ledger.admit(a1, { topic: `a/${i}`, qos: 1 }, true, 'graf')).toBeUndefined();
    for (let i = 0; i < 5; i++) expect(ledger.admit(a2, { topic: `b/${i}`, qos: 1 }, true, 'graf')).toBeUndefined();
    expect(ledger.admit(a2, { topic: 'b/5', qos: 1 }, true, 'graf')).toMatchObject({ reason: 'credential_subscriptions', detail: expect.stringContaining('MQTT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL') });
    // A filter held already takes no new place.
    expect(ledger.admit(a2, { topic: 'b/0', qos: 0 }, true, 'graf')).toBeUndefined();
    // Not held to the per-credential bound (an admin), but to the total.
    for (let i = 0; i < 10; i++) expect(ledger.admit(admin, { topic: `c/${i}`, qos: 1 }, true)).toBeUndefined();
    expect(ledger.admit(admin, { topic: 'c/10', qos: 1 }, true)?.reason).toBe('too_many_subscriptions');
    expect(ledger.places.total).toBe(25);
    ledger.removed(admin, ['c/0', 'c/0', 'nope']);
    expect(ledger.admit(a2, { topic: 'b/5', qos: 1 }, true, 'graf')?.reason).toBe('credential_subscriptions');
    expect(ledger.admit(admin, { topic: 'c/0', qos: 1 }, true)).toBeUndefined();
    expect(ledger.admit(admin, { topic: 'c/11', qos: 1 }, true)?.reason).toBe('too_many_subscriptions');
    // Its first client leaves: its 10 places come free, for it and for everyone.
    (a1 as unknown as { conn: EventEmitter }).conn.emit('close');
    expect(ledger.places.of('graf')).toBe(5);
    expect(ledger.places.total).toBe(15);
    expect(ledger.admit(a2, { topic: 'b/5', qos: 1 }, true, 'graf')).toBeUndefined();
    ledger.removed(a1, ['a/1']);
    expect(ledger.places.total).toBe(16);
    const admin2 = { id: 'ops:2', clean: true, conn: conn() } as unknown as Client;
    for (let i = 0; i < 9; i++) expect(ledger.admit(admin2, { topic: `d/${i}`, qos: 1 }, true)).toBeUndefined();
    expect(ledger.admit(admin2, { topic: 'd/9', qos: 1 }, true)).toMatchObject({ reason: 'total_subscriptions', detail: expect.stringContaining('MQTT_MAX_SUBSCRIPTIONS_TOTAL') });
  });
});
