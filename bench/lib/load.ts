/**
 * The load: simulated devices (real mqtt clients, one per device) publishing pre-generated
 * readings as fast as the broker takes them, with a bounded number outstanding. Readings are
 * generated before the clock starts so the generator's own cost is not measured.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { makeFleet, nextReading, seededRandom, type Reading, type SimDevice } from '../../simulators/devices.js';

export interface Fleet {
  readonly devices: SimDevice[];
  readonly clients: MqttClient[];
  close(): Promise<void>;
}

export function makeReadings(devices: number, count: number, prefix: string, seed = 1): { fleet: SimDevice[]; readings: Reading[] } {
  const random = seededRandom(seed);
  const fleet = makeFleet({ devices, prefix, random });
  // Now-ish times (never stale, never 5 min ahead): each device steps 1 ms per reading.
  const start = Date.now();
  const readings: Reading[] = [];
  for (let i = 0; i < count; i++) {
    const d = fleet[i % fleet.length]!;
    readings.push(nextReading(d, start + Math.floor(i / fleet.length), 'normal', random, false));
  }
  return { fleet, readings };
}

export async function connectFleet(url: string, devices: SimDevice[]): Promise<Fleet> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < devices.length; i += 100) {
    clients.push(
      ...(await Promise.all(
        devices.slice(i, i + 100).map((d) => mqtt.connectAsync(url, { clientId: d.id, reconnectPeriod: 0, keepalive: 0, clean: true })),
      )),
    );
  }
  return {
    devices,
    clients,
    close: () => Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined))).then(() => undefined),
  };
}

/**
 * Publishes every reading, round-robin over the devices, keeping at most `window` publishes
 * outstanding: not yet acknowledged (QoS 1) or written (QoS 0), and, when `delivered` is given,
 * not yet received by the subscriber. The second bound measures what a broker sustains rather
 * than how long a queue it builds in front of a slower subscriber (Aedes' mqemitter queue is an
 * array whose shift() makes a long queue quadratic).
 */
export function blast(fleet: Fleet, readings: readonly Reading[], qos: 0 | 1, window = 2000, delivered?: Delivered): Promise<{ failed: number }> {
  const index = new Map(fleet.devices.map((d, i) => [d.id, i]));
  let next = 0;
  let done = 0;
  let failed = 0;
  let pumping = false;
  return new Promise((resolve) => {
    const pump = (): void => {
      if (pumping) return;
      pumping = true;
      while (next < readings.length && next - done < window && (!delivered || next - delivered.count() < window)) {
        const r = readings[next++]!;
        const client = fleet.clients[index.get(r.device.id)!]!;
        client.publish(r.topic, r.payload, { qos }, (err) => {
          done++;
          if (err) failed++;
          if (done === readings.length) resolve({ failed });
          else if (next - done < window / 2) setImmediate(pump);
        });
      }
      pumping = false;
    };
    delivered?.onProgress(() => {
      if (next - delivered.count() < window / 2) pump();
    });
    pump();
  });
}

export interface Delivered {
  count(): number;
  onProgress(listener: () => void): void;
}

/** A subscriber counting what a broker forwards; resolves when `expected` arrived or after `timeoutMs`. */
export async function countingSubscriber(url: string, topic: string): Promise<Delivered & { received: () => number; until(expected: number, timeoutMs: number): Promise<number>; close(): Promise<void> }> {
  const client = await mqtt.connectAsync(url, { clientId: `bench-sub-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 0, keepalive: 0 });
  let received = 0;
  let notify: (() => void) | undefined;
  let progress: (() => void) | undefined;
  client.on('message', () => {
    received++;
    notify?.();
    if ((received & 63) === 0) progress?.();
  });
  await client.subscribeAsync(topic, { qos: 0 });
  return {
    received: () => received,
    count: () => received,
    onProgress(listener) {
      progress = listener;
    },
    until(expected, timeoutMs) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          notify = undefined;
          resolve(received);
        }, timeoutMs);
        notify = () => {
          if (received >= expected) {
            clearTimeout(timer);
            notify = undefined;
            resolve(received);
          }
        };
        notify();
      });
    },
    close: () => client.endAsync(true),
  };
}
