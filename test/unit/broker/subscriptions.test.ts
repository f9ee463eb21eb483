/** The filters a client was granted (gateway/broker/subscriptions.ts), with MQTT_MAX_SUBSCRIPTIONS=0 (no limit). */
import type { Client } from 'aedes';
import { describe, expect, it } from 'vitest';
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
});
