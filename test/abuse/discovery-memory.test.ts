/**
 * Home Assistant discovery configs under abuse: each entity learnt is held in memory, and a
 * client may send any number of configs, each as large as MAX_PAYLOAD_BYTES. A tester's `native`
 * ESPHome credential sent configs of ~62 KB with 2,300 availability entries and 14 KB strings:
 * held as sent (~28× the bytes), they took the gateway from 150 MB to 3.2 GB and out of heap.
 * A config over what one may hold (CONFIG_CAPS) is now a dead letter, counted and said once
 * per burst (GW_ERR_MEMORY_FULL, map `discovery_config`), and the device's other configs are
 * still read.
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

