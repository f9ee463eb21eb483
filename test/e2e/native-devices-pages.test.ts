/**
 * `GET /api/devices` in pages: the whole registry in one answer was one string of hundreds of MB
 * at 10,000 devices (past 512 MB: an empty 200, RangeError) and held the event loop for seconds.
 * A page lists `limit` devices (100 by default, at most 1,000) and `next`, the cursor `after`
 * takes; the CLI walks every page (`list`, and `assign`'s "did you mean").
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceView } from '../../gateway/devices/registry.js';
import { SIMPLE_RULES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { addCredentials } from '../helpers/auth.js';
import { connect } from '../helpers/mqtt.js';
import { runTs } from '../helpers/run.js';
import { waitFor } from '../helpers/wait.js';

// Past one page of the CLI's (1,000): it must walk to the second.
const DEVICES = 1050;
let gw: TestGateway;
let secrets: Record<string, string>;
let bridge: MqttClient;
let mapFile: string;
type Page = { devices: DeviceView[]; total?: number; limit: number; next?: string; map: { devices: number } };

async function page(query: string, status = 200): Promise<Page> {
  const res = await fetch(`${gw.httpUrl}/api/devices${query}`, { headers: { authorization: `Basic ${Buffer.from(`grafana:${secrets['grafana']}`).toString('base64')}` } });
  expect(res.status).toBe(status);
  return (await res.json()) as Page;
}
const cliEnv = (): Record<string, string | undefined> => ({ GATEWAY_USERNAME: 'grafana', GATEWAY_PASSWORD: secrets['grafana'] });

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-devices-pages-'));
  secrets = await addCredentials(dataDir, [
    { name: 'z2m', role: 'bridge' },
    { name: 'grafana', role: 'observer' },
  ]);
  mapFile = join(dataDir, 'devices.yaml');
  await writeFile(mapFile, 'devices:\n  zigbee2mqtt:placed_1: { site: hq, zone: f1 }\n');
  gw = await startGateway({ dataDir, rulesDir: SIMPLE_RULES });
  bridge = await connect(gw.mqttUrl, { username: 'z2m', password: secrets['z2m'], clientId: 'zigbee2mqtt_pages' });
  await bridge.publishAsync('zigbee2mqtt/placed_1', '{"temperature":20}', { qos: 1 });
  await bridge.publishAsync('zigbee2mqtt/weather_sensor', '{"temperature":20,"odd":1}', { qos: 1 });
  for (let i = 0; i < DEVICES; i++) await bridge.publishAsync(`zigbee2mqtt/dev_${String(i).padStart(4, '0')}`, `{"temperature":21,"odd_${i}":1}`, { qos: 1 });
  // `total` on a paged answer; the devices themselves on one that is not (so that the tests say what fails).
  await waitFor(async () => ((p) => (p.total ?? p.devices.length) === DEVICES + 2)(await page('')) || undefined, 'every device heard');
}, 120_000);
afterAll(async () => {
  await bridge?.endAsync().catch(() => undefined);
  await gw?.stop();
});

describe('GET /api/devices in pages', () => {
  it('lists 100 devices by default, at most 1,000, with a next cursor that walks every device once, waiting ones first', async () => {
    const first = await page('');
    expect(first.devices).toHaveLength(100);
    expect(first.total).toBe(DEVICES + 2);
    expect(first.next).toEqual(expect.any(String));
    expect(first.map.devices).toBe(1);
    expect((await page('?limit=5000')).devices).toHaveLength(1000);
    const keys: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const p = await page(`?limit=150${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`);
      expect(p.devices.length).toBeLessThanOrEqual(150);
      keys.push(...p.devices.map((d) => d.key));
      pages++;
      if (p.next === undefined) break;
      after = p.next;
    }
    expect(pages).toBe(Math.ceil((DEVICES + 2) / 150));
    expect(new Set(keys).size).toBe(DEVICES + 2);
    // The placed device last, after every waiting one.
    expect(keys.at(-1)).toBe('zigbee2mqtt:placed_1');
  });

  it('filters the devices waiting for a zone, and says what it cannot take (400)', async () => {
    const waiting = await page('?status=unassigned&limit=1000');
    expect(waiting.devices.every((d) => d.waiting)).toBe(true);
    expect(waiting.total).toBe(DEVICES + 1);
    expect((await page('?limit=abc', 400)) as unknown).toEqual({ error: expect.stringContaining('limit') });
    expect((await page('?limit=0', 400)) as unknown).toEqual({ error: expect.stringContaining('limit') });
    expect((await page('?status=placed', 400)) as unknown).toEqual({ error: expect.stringContaining('status') });
  });
});

describe('the CLI over pages', () => {
  it('npm run devices -- list shows every device waiting, past the first page', async () => {
    const list = await runTs('gateway/cli/devices.ts', ['--url', gw.httpUrl, '--file', mapFile, 'list'], cliEnv());
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(`${DEVICES + 1} waiting for a zone:`);
    expect(list.stdout).toContain('zigbee2mqtt:weather_sensor');
    expect(list.stdout).toContain(`zigbee2mqtt:dev_${DEVICES - 1}`);
    const json = await runTs('gateway/cli/devices.ts', ['--url', gw.httpUrl, '--file', mapFile, 'list', '--json'], cliEnv());
    expect((JSON.parse(json.stdout) as { seen: unknown[] }).seen).toHaveLength(DEVICES + 2);
  });

  it('assign suggests a heard device listed past the first page', async () => {
    const assign = await runTs('gateway/cli/devices.ts', ['--url', gw.httpUrl, '--file', mapFile, 'assign', 'zigbee2mqtt:weather_sensr', '--site', 'hq', '--zone', 'f2'], cliEnv());
    expect(assign.code).toBe(0);
    expect(assign.stderr).toContain('did you mean zigbee2mqtt:weather_sensor?');
    expect(await readFile(mapFile, 'utf8')).toContain('zigbee2mqtt:weather_sensr');
  });
});
