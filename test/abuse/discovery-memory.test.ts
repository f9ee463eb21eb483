/**
 * Home Assistant discovery configs under abuse: each entity learnt is held in memory, and a
 * client may send any number of configs, each as large as MAX_PAYLOAD_BYTES. A tester's `native`
 * ESPHome credential sent configs of ~62 KB with 2,300 availability entries and 14 KB strings:
 * held as sent (~28× the bytes), they took the gateway from 150 MB to 3.2 GB and out of heap.
 * A config over what one may hold (CONFIG_CAPS) is now a dead letter, counted and said once
 * per burst (GW_ERR_MEMORY_FULL, map `discovery_config`), and the device's other configs are
 * still read. And one credential's configs filled the whole table (20,000 entities), after which
 * every other device's were refused: a native device's credential now holds a twentieth of it,
 * a bridge's half, past which its own configs are refused (map `discovery`), never another's.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, startGatewayProcess, type GatewayUnderTest } from '../helpers/abuse.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

let gw: GatewayUnderTest;
const open: MqttClient[] = [];

async function as(name: string, clientId: string): Promise<MqttClient> {
  const client = await connect(gw.mqttUrl, { username: name, password: gw.secrets[name], clientId });
  open.push(client);
  return client;
}

/** The tester's config (disc-native.mjs), scaled: `entries` availability topics the node may publish, long strings. */
function bloated(i: number, entries: number, pad: number): string {
  const long = 'x'.repeat(pad);
  const avty = Array.from({ length: entries }, (_, j) => ({ t: `esp1/a/${i}/${j}` }));
  return JSON.stringify({ name: long, uniq_id: long, stat_t: `esp1/sensor/t${i}/state`, dev_cla: 'temperature', unit_of_meas: '°C', pl_on: long, pl_off: long, dev: { ids: ['esp1'] }, avty });
}

type Note = { component?: string; kind?: string; refused?: string };
/** What GET /api/devices lists of each discovery config, by topic: learnt (its component) or refused (the reason). */
async function notes(): Promise<Record<string, Note>> {
  const res = await fetch(`${gw.httpUrl}/api/devices`, { headers: basicAuth({ name: 'warm-up', secret: gw.secrets['warm-up']! }) });
  const { devices } = (await res.json()) as { devices: { discovery?: Record<string, Note> }[] };
  return Object.assign({}, ...devices.map((d) => d.discovery ?? {})) as Record<string, Note>;
}

const memoryFull = (map: string) => gw.logs.filter((l) => l['code'] === 'GW_ERR_MEMORY_FULL' && l['map'] === map);

beforeAll(async () => {
  gw = await startGatewayProcess({
    credentials: [
      { name: 'esp1', role: 'native', native: 'esphome:esp1' },
      { name: 'esp2', role: 'native', native: 'esphome:esp2' },
      { name: 'z2m', role: 'bridge' },
    ],
  });
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.endAsync().catch(() => undefined)));
  await gw?.stop();
});

describe('a discovery config over what one config may hold', () => {
  it('is a dead letter, counted and said once per burst, and the node’s ordinary configs are still read', async () => {
    const esp = await as('esp1', 'esp1-aabbcc');
    const before = await gw.metric('gateway_deadletters_total', { reason: 'invalid_payload' });
    // Too many availability entries (the tester's 2,300, scaled), and a payload_on as long as a page.
    await esp.publishAsync('homeassistant/sensor/esp1/t0/config', bloated(0, 200, 2_000), { qos: 1 });
    await esp.publishAsync('homeassistant/sensor/esp1/t1/config', bloated(1, 200, 2_000), { qos: 1 });
    await esp.publishAsync('homeassistant/switch/esp1/relay/config', JSON.stringify({ stat_t: 'esp1/switch/relay/state', cmd_t: 'esp1/switch/relay/command', pl_on: 'x'.repeat(5_000), dev: { ids: ['esp1'] } }), { qos: 1 });
    await waitFor(async () => (await gw.metric('gateway_memory_refusals_total', { map: 'discovery_config' })) >= 3 || undefined, 'the configs refused');
    expect(await gw.metric('gateway_memory_refusals_total', { map: 'discovery_config' })).toBe(3);
    await waitFor(async () => (await gw.metric('gateway_deadletters_total', { reason: 'invalid_payload' })) - before >= 3 || undefined, 'their dead letters');
    // Said once for the burst, with the reason.
    expect(memoryFull('discovery_config')).toHaveLength(1);
    expect(memoryFull('discovery_config')[0]!.msg).toMatch(/homeassistant\/sensor\/esp1\/t0\/config: .*200 availability entries, more than 16/);
    // The node's ordinary config is still learnt and read.
    await esp.publishAsync('homeassistant/sensor/esp1/t2/config', bloated(2, 2, 10), { qos: 1 });
    const seen = await waitFor(async () => ((await notes())['homeassistant/sensor/esp1/t2/config']?.component ? notes() : undefined), 'the ordinary config learnt');
    expect(seen['homeassistant/sensor/esp1/t0/config']?.refused).toMatch(/200 availability entries/);
    expect(seen['homeassistant/switch/esp1/relay/config']?.refused).toMatch(/longer than 256 characters/);
    expect(await gw.metric('gateway_memory_refusals_total', { map: 'discovery_config' })).toBe(3);
  });
});

describe('one credential’s discovery configs', () => {
  it('hold at most its share of the table (MAX_ENTITIES / 20 for a native device): past it its own are refused, counted and said once, and others’ configs are still read', async () => {
    const esp = await as('esp1', 'esp1-share');
    const small = (i: number) => JSON.stringify({ name: `n${i}`, stat_t: `esp1/sensor/q${i}/state`, dev_cla: 'temperature', unit_of_meas: '°C', dev: { ids: ['esp1'] } });
    // Its share, less the one config it holds from the test above.
    const share = 20_000 / 20;
    for (let i = 0; i < share - 1; i += 200) await Promise.all(Array.from({ length: Math.min(200, share - 1 - i) }, (_, k) => esp.publishAsync(`homeassistant/sensor/esp1/q${i + k}/config`, small(i + k), { qos: 1 })));
    expect(await gw.metric('gateway_memory_refusals_total', { map: 'discovery' })).toBe(0);
    for (const i of [share, share + 1, share + 2]) await esp.publishAsync(`homeassistant/sensor/esp1/q${i}/config`, small(i), { qos: 1 });
    await waitFor(async () => (await gw.metric('gateway_memory_refusals_total', { map: 'discovery' })) >= 3 || undefined, 'its configs past its share refused');
    expect(memoryFull('discovery')).toHaveLength(1);
    expect(memoryFull('discovery')[0]!.msg).toMatch(/credential esphome:esp1 hold its share of the discovered entities \(1000 entities/);
    // Another native device's and a bridge's configs are still learnt.
    const other = await as('esp2', 'esp2-aabbcc');
    await other.publishAsync('homeassistant/sensor/esp2/t/config', JSON.stringify({ stat_t: 'esp2/sensor/t/state', dev_cla: 'temperature', dev: { ids: ['esp2'] } }), { qos: 1 });
    const bridge = await as('z2m', 'zigbee2mqtt_1a2b3c');
    await bridge.publishAsync('homeassistant/sensor/0x1/temperature/config', JSON.stringify({ stat_t: 'zigbee2mqtt/weather', val_tpl: '{{ value_json.temperature }}', dev_cla: 'temperature', dev: { ids: ['zigbee2mqtt_0x1'] } }), { qos: 1 });
    const seen = await waitFor(async () => {
      const n = await notes();
      return n['homeassistant/sensor/esp2/t/config']?.component && n['homeassistant/sensor/0x1/temperature/config']?.component ? n : undefined;
    }, 'the other credentials’ configs learnt');
    expect(seen['homeassistant/sensor/0x1/temperature/config']).toMatchObject({ component: 'sensor', kind: 'temperature' });
    // One of its configs removed (an empty retained config) frees its place.
    const recognised = () => gw.metric('gateway_native_messages_total', { family: 'homeassistant', outcome: 'recognised' });
    const [before, refusedBefore] = [await recognised(), await gw.metric('gateway_native_messages_total', { family: 'homeassistant', outcome: 'refused' })];
    await esp.publishAsync('homeassistant/sensor/esp1/q0/config', '', { qos: 1, retain: true });
    await esp.publishAsync(`homeassistant/sensor/esp1/q${share}/config`, small(share), { qos: 1 });
    await waitFor(async () => (await recognised()) - before >= 2 || undefined, 'the config learnt once a place is free');
    expect(await gw.metric('gateway_native_messages_total', { family: 'homeassistant', outcome: 'refused' })).toBe(refusedBefore);
    expect(await gw.metric('gateway_memory_refusals_total', { map: 'discovery' })).toBe(3);
  });
});
