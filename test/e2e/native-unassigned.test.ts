/**
 * A native device the map does not place is not lost: it waits for a zone (GET /api/devices, the
 * registry), its messages are kept whole as dead letters (unassigned_device), and once it is
 * assigned with the CLI its earlier readings are redriven into InfluxDB at their original times,
 * exactly once, however often the redrive runs.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { validate, version } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { ROOT } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

let gw: TestGateway & { mapFile: string };
let z2m: MqttClient;

async function cli(script: 'devices' | 'deadletters', ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', `gateway/cli/${script}.ts`, ...args], { cwd: ROOT, env: { ...process.env, DEVICES_FILE: gw.mapFile } });
  return stdout;
}

beforeAll(async () => {
  gw = await startWithMap('# nothing placed yet\n');
  z2m = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt_bridge' });
});
afterAll(async () => {
  await z2m?.endAsync();
  await gw?.stop();
});

describe('a native device the map does not place', () => {
  it('waits for a zone, its readings kept as dead letters, then is assigned and its readings redriven exactly once', async () => {
    const letters = await collect(z2m, 'gateway/deadletter');
    await z2m.publishAsync('zigbee2mqtt/garden_sensor/availability', '{"state":"online"}', { qos: 1 });
    await z2m.publishAsync('zigbee2mqtt/garden_sensor', '{"temperature":12.5,"humidity":80,"linkquality":90}', { qos: 1 });
    await z2m.publishAsync('zigbee2mqtt/garden_sensor', '{"temperature":13,"humidity":79,"linkquality":88}', { qos: 1 });
    const first = await letters.next((m) => m.json<{ reason: string }>().reason === 'unassigned_device');
    expect(first.json()).toMatchObject({ topic: 'zigbee2mqtt/garden_sensor', payload: '{"temperature":12.5,"humidity":80,"linkquality":90}' });
    expect(first.json<{ detail: string }>().detail).toMatch(/^zigbee2mqtt:garden_sensor is waiting for a zone/);

    const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: Record<string, unknown>[] };
    expect(api.devices[0]).toMatchObject({ key: 'zigbee2mqtt:garden_sensor', family: 'zigbee2mqtt', nativeId: 'garden_sensor', waiting: true, online: true, kinds: ['humidity', 'temperature'], unmappedKeys: { linkquality: 2 }, messages: 2 });
    expect((api.devices[0]!['sample'] as { payload: string }).payload).toContain('"temperature":13');
    expect(await cli('devices', 'list', '--url', gw.httpUrl)).toMatch(/1 waiting for a zone:\n {2}zigbee2mqtt:garden_sensor .*online; kinds humidity, temperature; unmapped linkquality/);

    // Kept means in InfluxDB: the redrive reads them back from there.
    await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT payload FROM deadletters WHERE reason = 'unassigned_device'`).then((x) => x.length === 2), 'both dead letters in InfluxDB');
    const out = await cli('devices', 'assign', 'zigbee2mqtt:garden_sensor', '--site', 'hq', '--zone', 'garden', '--redrive', '--url', gw.httpUrl);
    expect(out).toContain('zigbee2mqtt:garden_sensor → hq/garden/garden_sensor');
    expect(out).toMatch(/2 dead letters \(unassigned_device\) since .*: 2 redriven/);

    const temps = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE site = 'hq' AND zone = 'garden' AND device = 'garden_sensor'`).then((x) => (x.length >= 2 ? x : undefined)), 'the redriven readings');
    expect(temps.map((t) => t['value'])).toEqual([12.5, 13]);
    // At their original times: the dead letters'.
    const kept = await rows(gw.influxUrl, gw.db, `SELECT payload FROM deadletters WHERE reason = 'unassigned_device'`);
    expect(temps.map((t) => t['time'])).toEqual(kept.map((d) => d['time']));

    // A second redrive (the general one) stores nothing twice.
    const again = await cli('deadletters', 'redrive', '--reason', 'unassigned_device', '--since', '1h', '--url', gw.httpUrl, '--json');
    expect(JSON.parse(again)).toMatchObject({ read: 2, redriven: 0, alreadyStored: 2 });
    // Later readings go straight in; once the next is in InfluxDB, anything the second redrive wrote is too.
    await z2m.publishAsync('zigbee2mqtt/garden_sensor', '{"temperature":14,"humidity":78}', { qos: 1 });
    await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE device = 'garden_sensor' AND value = 14`).then((x) => x.length === 1), 'the live reading');
    const all = await rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE device = 'garden_sensor'`);
    expect(all.map((t) => t['value'])).toEqual([12.5, 13, 14]);
    const hum = await rows(gw.influxUrl, gw.db, `SELECT count(value) FROM humidity WHERE device = 'garden_sensor'`);
    expect(hum[0]!['count']).toBe(3);
  });

  it('refuses a redrive of a reason no dead letter has, listing the reasons', async () => {
    const failed = await cli('deadletters', 'redrive', '--reason', 'bogus', '--since', '7d', '--url', gw.httpUrl).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed?.code).not.toBe(0);
    expect(failed?.stderr).toMatch(/reason must be a dead-letter reason: invalid_topic, .*unassigned_device, internal_error; got "bogus"/);
  });

  it('places a Zigbee2MQTT device whose friendly name is <site>/<zone>/<device> by itself', async () => {
    await z2m.publishAsync('zigbee2mqtt/hq/attic/th-9', '{"temperature":19.5,"battery":88}', { qos: 1 });
    const [t] = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value, event_id FROM temperature WHERE site = 'hq' AND zone = 'attic' AND device = 'th-9'`).then((x) => (x.length ? x : undefined)), 'the self-placed reading');
    expect(t!['value']).toBe(19.5);
    // DESIGN.md's envelope: the device's id, else a UUIDv7 (a native message carries none), of the reading's millisecond.
    const id = String(t!['event_id']);
    expect([validate(id), version(id)]).toEqual([true, 7]);
    expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(t!['time']);
  });

  it('takes a QoS 1 redelivery of a native message as a duplicate, acknowledged once the original is durable', async () => {
    const packet = { topic: 'zigbee2mqtt/hq/attic/th-10', payload: Buffer.from('{"temperature":18.5}'), qos: 1 as const, messageId: 4242 };
    const first = gw.gateway.ingest.handle('z2m-dup', { ...packet, dup: false });
    const again = gw.gateway.ingest.handle('z2m-dup', { ...packet, dup: true });
    expect(first).toBeInstanceOf(Promise);
    await Promise.all([first, again]);
    const dups = await gw.gateway.metrics.registry.getSingleMetric('gateway_duplicates_total')!.get();
    expect(dups.values[0]?.value).toBeGreaterThanOrEqual(1);
    // Once a reading sent after it is in InfluxDB, a second point would be too.
    await z2m.publishAsync('zigbee2mqtt/hq/attic/th-10', '{"temperature":18.6}', { qos: 1 });
    const all = await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE device = 'th-10'`).then((x) => (x.length >= 2 ? x : undefined)), 'both readings');
    expect(all.map((r) => r['value'])).toEqual([18.5, 18.6]);
  });
});
