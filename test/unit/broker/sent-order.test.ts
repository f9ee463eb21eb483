/**
 * A retained QoS 0 message followed at once by another from the same client (Tasmota on connect:
 * `tele/<t>/LWT` `Online` retained, then `cmnd/<t>/POWER`, INFO1..3) reaches a live subscriber
 * to both (gateway/broker/sent-order.ts; moscajs/aedes#994), on a real Aedes socket.
 */
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MqttBroker } from '../../../gateway/broker/broker.js';
import { MemoryPersistence } from '../../../gateway/broker/memory-store.js';

const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function brokerWith(persistence?: unknown): Promise<string> {
  const broker = new MqttBroker({ log: pino({ level: 'silent' }), host: '127.0.0.1', mqttPort: 0, wsPort: 0, hooks: {}, ...(persistence ? { persistence } : {}) });
  const ports = await broker.start();
  stops.push(() => broker.stop());
  return `mqtt://127.0.0.1:${ports.mqtt}`;
}

async function client(url: string, clientId: string): Promise<mqtt.MqttClient> {
  const c = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0 });
  stops.push(() => c.endAsync());
  return c;
}

describe.each([
  ['Aedes’ own persistence', undefined],
  ['the gateway’s memory store', () => new MemoryPersistence()],
])('a retained QoS 0 message then another at once (%s)', (_name, persistence) => {
  it('both reach a subscriber to both, for every device', async () => {
    const url = await brokerWith(persistence?.());
    const ha = await client(url, 'home-assistant');
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      ha.on('message', (topic) => {
        got.push(topic);
        if (got.length === 2 * 5) resolve();
      }),
    );
    await ha.subscribeAsync('#', { qos: 1 });
    for (let i = 0; i < 5; i++) {
      const plug = await client(url, `plug${i}`);
      plug.publish(`tele/plug${i}/LWT`, 'Online', { qos: 0, retain: true });
      plug.publish(`cmnd/plug${i}/POWER`, '', { qos: 0 });
    }
    await all;
    expect(got.filter((t) => t.endsWith('/LWT')).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `tele/plug${i}/LWT`));
  });
});
