/**
 * What the broker itself passes on of a Zigbee2MQTT keypad's message (README "Keypads"): once
 * keypad codes exist the gateway is the keypad's panel, and the copy Aedes forwards to its
 * subscribers, retains (Zigbee2MQTT's per-device `retain: true`) and queues for an offline
 * persistent session (DATA_DIR/mqtt-state.bin) has its code redacted; before, only the gateway's
 * own copy was. While no code exists the message goes on as sent (another panel needs the code).
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { collect, connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { runTs } from '../helpers/run.js';

const PIN = '40917253';

let dataDir: string;
let gw: TestGateway | undefined;
let z2m: MqttClient;
let watcher: MqttClient;
let everything: Awaited<ReturnType<typeof collect>>;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-test-keypad-fwd-'));
  gw = await startWithMap({ devices: { 'zigbee2mqtt:porch_keypad': { site: 'hq', zone: 'porch' } } }, { dataDir, env: { KEYPAD_EXIT_DELAY_MS: '0' } });
  z2m = await connect(gw.mqttUrl, { clientId: 'zigbee2mqtt_bridge' });
  watcher = await connect(gw.mqttUrl, { clientId: 'watcher' });
  everything = await collect(watcher, '#');
});
afterAll(async () => {
  await z2m?.endAsync();
  await watcher?.endAsync();
  await gw?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Zigbee2MQTT's message for a KEPZB-110's arm, retained as with the device's `retain: true`. */
const press = (transaction: number) =>
  z2m.publishAsync('zigbee2mqtt/porch_keypad', JSON.stringify({ action: 'arm_all_zones', action_code: PIN, action_transaction: transaction, action_zone: 0, battery: 87 }), { qos: 1, retain: true });
const pressed = (transaction: number) => (m: { topic: string; payload: string }) => m.topic === 'zigbee2mqtt/porch_keypad' && m.payload.includes(`"action_transaction":${transaction}`);

describe('a keypad message as the broker passes it on', () => {
  it('goes on as sent while no keypad code exists (Home Assistant’s panel may be the one answering)', async () => {
    await press(1);
    expect(JSON.parse((await everything.next(pressed(1))).payload)).toMatchObject({ action_code: PIN });
  });

  it('once a code exists, is forwarded, retained and queued for an offline session with its code redacted', async () => {
    const added = await runTs('gateway/cli/keypad-codes.ts', ['--file', join(dataDir, 'keypad-codes.json'), 'add', 'front-door'], {}, `${PIN}\n`);
    expect(added.code, added.stderr).toBe(0);
    // Home Assistant with a persistent session, offline when the keypad is pressed.
    const away = await connect(gw!.mqttUrl, { clientId: 'ha-away', clean: false });
    await away.subscribeAsync('zigbee2mqtt/#', { qos: 1 });
    await away.endAsync();
    const sets = await collect(z2m, 'zigbee2mqtt/porch_keypad/set');
    await press(2);
    // The gateway still read the code first: the keypad is answered as armed.
    expect((await sets.next((m) => m.json<{ arm_mode?: { transaction?: number } }>().arm_mode?.transaction === 2)).json()).toEqual({ arm_mode: { transaction: 2, mode: 'arm_all_zones' } });
    const online = await everything.next(pressed(2));
    expect(online.payload).not.toContain(PIN);
    expect(JSON.parse(online.payload)).toMatchObject({ action: 'arm_all_zones', action_code: '<redacted>', action_transaction: 2, battery: 87 });
    // A subscriber that comes later gets the retained message.
    const later = await connect(gw!.mqttUrl, { clientId: 'later' });
    const retained = await collect(later, 'zigbee2mqtt/porch_keypad');
    const kept = await retained.next();
    await later.endAsync();
    expect(kept.payload).not.toContain(PIN);
    expect(JSON.parse(kept.payload)).toMatchObject({ action_code: '<redacted>', action_transaction: 2 });
    // The retained message and the offline session's queue are written to DATA_DIR at the stop.
    await gw!.stop();
    gw = undefined;
    const files = await walk(dataDir);
    expect(files.map((f) => f.name)).toContain(join(dataDir, 'mqtt-state.bin'));
    for (const f of files) expect(f.text.includes(PIN), f.name).toBe(false);
    // Both are there: the retained message and the one queued for ha-away.
    const state = files.find((f) => f.name.endsWith('mqtt-state.bin'))!.text;
    expect(state).toContain('ha-away');
    expect(state.split('"action_transaction":2').length - 1).toBe(2);
  });
});

async function walk(dir: string): Promise<{ name: string; text: string }[]> {
  const out: { name: string; text: string }[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const name = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(name)));
    else if (e.isFile()) out.push({ name, text: (await readFile(name)).toString('latin1') });
  }
  return out;
}
