/** MqttBroker.restore (gateway/broker/broker.ts): the persistence is set up once, however many ask at once; a publish before it waits for it. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MqttBroker } from '../../../gateway/broker/broker.js';
import { MemoryPersistence } from '../../../gateway/broker/memory-store.js';

/** A broker whose persistence's set-up takes a while and is counted. */
function brokerCountingSetups() {
  const persistence = new MemoryPersistence() as unknown as { setup(broker: unknown): Promise<void> };
  let count = 0;
  const setup = persistence.setup.bind(persistence);
  persistence.setup = async (broker: unknown) => {
    count++;
    await new Promise((r) => setTimeout(r, 20));
    return setup(broker);
  };
  const broker = new MqttBroker({ log: pino({ level: 'silent' }), host: '127.0.0.1', mqttPort: 0, wsPort: 0, hooks: {}, persistence });
  return { broker, setups: () => count };
}

describe('restoring the broker', () => {
  it('sets the persistence up once when relearning and starting ask together, and both wait for it', async () => {
    const { broker, setups } = brokerCountingSetups();
    let ready = 0;
    await Promise.all([broker.restore().then(() => ready++), broker.restore().then(() => ready++)]);
    expect([setups(), ready]).toEqual([1, 2]);
    await broker.restore();
    expect(setups()).toBe(1);
    await broker.stop();
  });

  it('publishes what is published before it listens once the persistence is set up (the rules going live at start), and the start still sets it up once', async () => {
    const { broker, setups } = brokerCountingSetups();
    const heard: string[] = [];
    broker.aedes.subscribe('commands/#', (packet, done) => (heard.push(packet.topic), done()), () => undefined);
    await Promise.all([broker.publish('commands/s/z/a', '{}', 1), broker.publish('commands/s/z/b', '{}', 1)]);
    expect(heard).toEqual(['commands/s/z/a', 'commands/s/z/b']);
    await broker.start();
    expect(setups()).toBe(1);
    await broker.stop();
  });

  it('refuses a publish after a stop that came before it ever listened (it is not reopened)', async () => {
    const broker = new MqttBroker({ log: pino({ level: 'silent' }), host: '127.0.0.1', mqttPort: 0, wsPort: 0, hooks: {}, persistence: new MemoryPersistence() });
    await broker.stop();
    await expect(broker.publish('commands/s/z/a', '{}', 1)).rejects.toThrow('the broker stopped before it listened');
  });

  it('counts 0 clients before it listens (a slow start: the health point written meanwhile said clients=NaNi, which InfluxDB refused)', async () => {
    const { broker } = brokerCountingSetups();
    expect(broker.connectedClients).toBe(0);
    await broker.restore();
    expect(broker.connectedClients).toBe(0);
    await broker.stop();
  });
});
