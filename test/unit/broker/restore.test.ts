/** MqttBroker.restore (gateway/broker/broker.ts): the persistence is set up once, however many ask at once. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MqttBroker } from '../../../gateway/broker/broker.js';
import { MemoryPersistence } from '../../../gateway/broker/memory-store.js';

describe('restoring the broker', () => {
  it('sets the persistence up once when relearning and starting ask together, and both wait for it', async () => {
    const persistence = new MemoryPersistence() as unknown as { setup(broker: unknown): Promise<void> };
    let setups = 0;
    const setup = persistence.setup.bind(persistence);
    persistence.setup = async (broker: unknown) => {
      setups++;
      await new Promise((r) => setTimeout(r, 20));
      return setup(broker);
    };
    const broker = new MqttBroker({ log: pino({ level: 'silent' }), host: '127.0.0.1', mqttPort: 0, wsPort: 0, hooks: {}, persistence });
    let ready = 0;
    await Promise.all([broker.restore().then(() => ready++), broker.restore().then(() => ready++)]);
    expect([setups, ready]).toEqual([1, 2]);
    await broker.restore();
    expect(setups).toBe(1);
    await broker.stop();
  });
});
