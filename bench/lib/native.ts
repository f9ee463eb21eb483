/**
 * Native devices through the gateway: Zigbee2MQTT-style messages (one JSON object with many keys,
 * three of them readings, three keys that map to no kind) from devices the device map places,
 * timed until every reading is counted in InfluxDB. Beside the contract's own format in the same
 * run, readings stored per second are what compare.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { makeFleet, seededRandom, type Reading, type SimDevice } from '../../simulators/devices.js';
import { cpuMeter } from './cpu.js';
import { waitForCount } from './influx.js';
import { blast, connectFleet, countingSubscriber } from './load.js';
import { startGatewayProcess } from './processes.js';
import type { LoadShape, Measurement } from './throughput.js';

/** Readings each message carries (battery, humidity, temperature). */
export const READINGS_PER_MESSAGE = 3;

function messages(fleet: readonly SimDevice[], count: number, seed = 1): Reading[] {
  const random = seededRandom(seed);
  const out: Reading[] = [];
  for (let i = 0; i < count; i++) {
    const d = fleet[i % fleet.length]!;
    const payload = JSON.stringify({
      battery: 90 + Math.round(random() * 10),
      humidity: Math.round((40 + random() * 20) * 10) / 10,
      linkquality: Math.round(random() * 255),
      pressure: Math.round((1000 + random() * 20) * 10) / 10,
      temperature: Math.round((19 + random() * 6) * 100) / 100,
      voltage: 2900 + Math.round(random() * 200),
    });
    out.push({ topic: `zigbee2mqtt/${d.id}`, payload, device: d, kind: 'temperature', id: `${d.id}-${i}`, ts: 0 });
  }
  return out;
}

export async function measureNativeGateway(influxUrl: string, shape: LoadShape, influxPid: number | undefined): Promise<Measurement> {
  const db = `bench_native_${randomBytes(3).toString('hex')}`;
  const fleet = makeFleet({ devices: shape.devices, prefix: `z${randomBytes(2).toString('hex')}`, random: seededRandom(1) });
  const dir = await mkdtemp(join(tmpdir(), 'gw-bench-map-'));
  const mapFile = join(dir, 'devices.yaml');
  await writeFile(mapFile, stringify({ devices: Object.fromEntries(fleet.map((d) => [`zigbee2mqtt:${d.id}`, { site: d.site, zone: d.zone, device: d.id }])) }));
  const gateway = await startGatewayProcess({ influxUrl, db, env: { DEVICES_FILE: mapFile } });
  const url = `mqtt://127.0.0.1:${gateway.mqttPort}`;
  const total = Math.ceil(shape.readings / READINGS_PER_MESSAGE);
  const warm = Math.max(2000, Math.round(total / 10));
  const all = messages(fleet, warm + total);
  const subscriber = await countingSubscriber(url, 'zigbee2mqtt/#');
  const devices = await connectFleet(url, fleet);
  try {
    await blast(devices, all.slice(0, warm), 0, shape.window, shape.bounded ? subscriber : undefined);
    await waitForCount(influxUrl, db, warm * READINGS_PER_MESSAGE, 60_000);
    const meter = cpuMeter({ server: gateway.child.pid, bench: process.pid, influxd: influxPid });
    const started = performance.now();
    const { failed } = await blast(devices, all.slice(warm), 0, shape.window, shape.bounded ? subscriber : undefined);
    const stored = (await waitForCount(influxUrl, db, all.length * READINGS_PER_MESSAGE, 120_000)) - warm * READINGS_PER_MESSAGE;
    const seconds = (performance.now() - started) / 1000;
    return {
      name: `gateway end to end, QoS 0, Zigbee2MQTT-style messages (${READINGS_PER_MESSAGE} readings + 3 unmapped keys each)`,
      unit: 'events/s',
      rate: stored / seconds,
      count: stored,
      seconds,
      loss: total * READINGS_PER_MESSAGE - stored,
      cpu: meter.stop(seconds),
      note: [`${Math.round(total / seconds)} messages/s`, failed > 0 ? `${failed} publishes failed` : ''].filter(Boolean).join('; '),
    };
  } finally {
    await devices.close();
    await subscriber.close();
    await gateway.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
