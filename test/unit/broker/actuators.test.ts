/**
 * SubscribedActuators (gateway/broker/actuators.ts) learns which actuator a client is from its
 * SUBSCRIBE, and from the subscriptions Aedes restores onto a resumed persistent session (which
 * sends none): a directory that never saw the SUBSCRIBE (a restarted gateway's, another node's)
 * knows the device once it is back. Real Aedes on a real socket, real mqtt.js clients.
 */
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SubscribedActuators } from '../../../gateway/broker/actuators.js';
import { MqttBroker } from '../../../gateway/broker/broker.js';
import { MemoryPersistence } from '../../../gateway/broker/memory-store.js';

const brokers: MqttBroker[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.stop();
});

async function broker(): Promise<{ aedes: MqttBroker['aedes']; url: string }> {
  const b = new MqttBroker({ log: pino({ level: 'silent' }), host: '127.0.0.1', mqttPort: 0, wsPort: 0, hooks: {}, persistence: new MemoryPersistence() });
  brokers.push(b);
  const ports = await b.start();
  return { aedes: b.aedes, url: `mqtt://127.0.0.1:${ports.mqtt}` };
}

const persistent = (url: string, clientId: string) => mqtt.connectAsync(url, { clientId, clean: false, reconnectPeriod: 0 });

/** Connects `clientId` with a persistent session; whether the broker kept one (`sessionPresent`). */
async function resume(url: string, clientId: string): Promise<{ client: mqtt.MqttClient; sessionPresent: boolean }> {
  const client = mqtt.connect(url, { clientId, clean: false, reconnectPeriod: 0 });
  const sessionPresent = await new Promise<boolean>((ok, failed) => {
    client.once('connect', (connack) => ok(connack.sessionPresent));
    client.once('error', failed);
  });
  return { client, sessionPresent };
}

describe('actuators known by their subscription', () => {
  it('a resumed persistent session is its actuator for a directory that never saw its SUBSCRIBE', async () => {
    const { aedes, url } = await broker();
    const first = await persistent(url, 'fan-1');
    await first.subscribeAsync(['commands/hq/f1/hvac', 'devices/fan-1/#'], { qos: 1 });
    await first.endAsync();
    const fresh = new SubscribedActuators();
    fresh.observe(aedes);
    expect(fresh.actuatorOf('fan-1')).toHaveProperty('problem');
    const again = await resume(url, 'fan-1');
    expect(again.sessionPresent).toBe(true);
    expect(fresh.actuatorOf('fan-1')).toEqual({ site: 'hq', zone: 'f1', actuator: 'hvac' });
    await again.client.endAsync();
  });

  it('what the resumed session holds replaces what was learnt; a session holding nothing leaves it', async () => {
    const { aedes, url } = await broker();
    const first = await persistent(url, 'fan-2');
    await first.subscribeAsync('commands/hq/f2/hvac', { qos: 1 });
    await first.unsubscribeAsync('commands/hq/f2/hvac');
    await first.subscribeAsync('commands/hq/f2/ventilation', { qos: 1 });
    await first.endAsync();
    // What a directory learnt before (from a SUBSCRIBE it saw, since dropped on another node).
    const fresh = new SubscribedActuators();
    fresh.observe(aedes);
    fresh.learn('fan-2', { site: 'hq', zone: 'f2', actuator: 'hvac' });
    await (await resume(url, 'fan-2')).client.endAsync();
    expect(fresh.actuatorOf('fan-2')).toEqual({ site: 'hq', zone: 'f2', actuator: 'ventilation' });
    // No session kept (a new client id): nothing restored, what was learnt stands.
    fresh.learn('fan-3', { site: 'hq', zone: 'f3', actuator: 'hvac' });
    const none = await resume(url, 'fan-3');
    expect(none.sessionPresent).toBe(false);
    await none.client.endAsync();
    expect(fresh.actuatorOf('fan-3')).toEqual({ site: 'hq', zone: 'f3', actuator: 'hvac' });
  });

  it('a client its trust refuses is not learnt, from a SUBSCRIBE or a resumed session, and its reports say why', async () => {
    const { aedes, url } = await broker();
    const refuse = (client: { id: string }, ref: { zone: string }, topic: string) => (client.id.startsWith('sensor') ? `${client.id} is no actuator of ${ref.zone} (${topic})` : undefined);
    const live = new SubscribedActuators(refuse);
    live.observe(aedes);
    const sensor = await persistent(url, 'sensor-1');
    await sensor.subscribeAsync('commands/hq/f1/hvac', { qos: 1 });
    const hvac = await persistent(url, 'hvac-1');
    await hvac.subscribeAsync('commands/hq/f1/hvac', { qos: 1 });
    expect(live.actuatorOf('hvac-1')).toEqual({ site: 'hq', zone: 'f1', actuator: 'hvac' });
    expect(live.actuatorOf('sensor-1')).toEqual({ problem: 'no actuator is known for device "sensor-1": sensor-1 is no actuator of f1 (commands/hq/f1/hvac)' });
    await sensor.endAsync();
    await hvac.endAsync();
    // Another directory (a restarted gateway, another node) sees only the restored sessions.
    const fresh = new SubscribedActuators(refuse);
    fresh.observe(aedes);
    fresh.learn('sensor-1', { site: 'hq', zone: 'f1', actuator: 'hvac' });
    for (const id of ['sensor-1', 'hvac-1']) {
      const back = await resume(url, id);
      expect(back.sessionPresent).toBe(true);
      await back.client.endAsync();
    }
    expect(fresh.actuatorOf('hvac-1')).toEqual({ site: 'hq', zone: 'f1', actuator: 'hvac' });
    expect(fresh.actuatorOf('sensor-1')).toHaveProperty('problem', 'no actuator is known for device "sensor-1": sensor-1 is no actuator of f1 (commands/hq/f1/hvac)');
  });
});
