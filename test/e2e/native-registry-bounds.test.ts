/**
 * What the device registry keeps of a native device is bounded by size, not only by count: a
 * `bridge` credential sending made-up devices with 100 unmapped keys of hundreds of characters
 * each (an adversary's ~57 KB messages) had every name kept whole, and the registry's JSON grew
 * past what V8 can make a string of. Key names, values and the sample are cut with a marker,
 * counted in /metrics and said once per burst.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../gateway/devices/registry.js';
import { SIMPLE_RULES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { addCredentials, metric } from '../helpers/auth.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const DEVICES = 20;
let gw: TestGateway;
let secrets: Record<string, string>;
let bridge: MqttClient;
const observer = (): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`grafana:${secrets['grafana']}`).toString('base64')}` });

/** The tester's message, scaled down: 100 unmapped keys of ~330 characters, and a 2,000-character value. */
function oversized(i: number): string {
  const o: Record<string, unknown> = { temperature: 21, note: 'v'.repeat(2000) };
  for (let k = 0; k < 100; k++) o[`k${k}_${i}_${'x'.repeat(320)}`] = 1;
  return JSON.stringify(o);
}

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-registry-bounds-'));
  secrets = await addCredentials(dataDir, [
    { name: 'z2m', role: 'bridge' },
    { name: 'grafana', role: 'observer' },
  ]);
  await writeFile(join(dataDir, 'devices.yaml'), 'devices: {}\n');
  gw = await startGateway({ dataDir, rulesDir: SIMPLE_RULES });
  bridge = await connect(gw.mqttUrl, { username: 'z2m', password: secrets['z2m'], clientId: 'zigbee2mqtt_adv' });
  for (let i = 0; i < DEVICES; i++) await bridge.publishAsync(`zigbee2mqtt/dev_${i}`, oversized(i), { qos: 1 });
});
afterAll(async () => {
  await bridge?.endAsync().catch(() => undefined);
  await gw?.stop();
});

describe('a bridge sending devices with oversized keys and values', () => {
  it('has each device listed with its key names and sample cut, still valid JSON, each cut counted and said once', async () => {
    const devices = await waitFor(async () => {
      const body = (await (await fetch(`${gw.httpUrl}/api/devices?limit=100`, { headers: observer() })).json()) as { devices: DeviceView[] };
      const ours = body.devices.filter((d) => d.key.startsWith('zigbee2mqtt:dev_'));
      return ours.length === DEVICES && ours.every((d) => d.messages === 1) ? ours : undefined;
    }, 'every device listed');
    for (const d of devices) {
      const keys = Object.keys(d.unmappedKeys);
      // Every key still listed (100 long ones and `note`), each name at most 100 characters and the marker.
      expect(keys.length).toBe(100);
      for (const k of keys) expect(k.length).toBeLessThanOrEqual(101);
      expect(keys.filter((k) => k.endsWith('…')).length).toBeGreaterThan(0);
      const sample = d.sample!.payload;
      expect(sample.length).toBeLessThanOrEqual(1100);
      const doc = JSON.parse(sample) as Record<string, unknown>;
      expect(doc['temperature']).toBe(21);
      expect(doc['note']).toBe(`${'v'.repeat(64)}…`);
      expect(doc['…']).toMatch(/^\d+ more keys$/);
    }
    expect(await metric(gw.httpUrl, 'gateway_memory_evictions_total', { map: 'native_device_texts' }, { name: 'grafana', secret: secrets['grafana']! })).toBeGreaterThanOrEqual(DEVICES * 2);
    const said = gw.logs.filter((l) => l['code'] === 'GW_ERR_MEMORY_BOUND' && l['map'] === 'native_device_texts');
    expect(said).toHaveLength(1);
    expect(said[0]!.msg).toContain('cut');
  });
});
