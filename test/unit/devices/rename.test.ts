/**
 * A Zigbee2MQTT rename, piece by piece: the bridge's messages tell it once (a new bridge/devices
 * listing an ieee_address under another name, else the bridge's answer), the file edit keeps what
 * a person wrote, and a device whose rename the map did not follow is told which entries to edit.
 * The whole path through a real gateway is test/e2e/native-z2m-rename.test.ts.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { renameNative } from '../../../gateway/devices/map-edit.js';
import { DeviceMapLoader } from '../../../gateway/devices/map-loader.js';
import { parseDeviceMap } from '../../../gateway/devices/map.js';
import { RenameFollower } from '../../../gateway/devices/rename.js';
import { NativeRouter } from '../../../gateway/devices/router.js';
import type { Zigbee2mqttRename } from '../../../gateway/devices/types.js';
import { createLogger } from '../../../gateway/observability/log.js';
import { captureLogs } from '../../helpers/gateway.js';
import { count, testMetrics } from '../../helpers/ports.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function mapFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-rename-'));
  dirs.push(dir);
  const file = join(dir, 'devices.yaml');
  await writeFile(file, text);
  return file;
}

function router(yaml: string, renamed?: (r: Zigbee2mqttRename) => void): NativeRouter {
  return new NativeRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant', ...(renamed ? { renamed } : {}) }, parseDeviceMap('devices.yaml', yaml));
}
const send = (r: NativeRouter, topic: string, payload: unknown) => r.route(topic, Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)), Date.UTC(2026, 10, 29));
const list = (names: Record<string, string>) => Object.entries(names).map(([friendly_name, ieee_address]) => ({ friendly_name, ieee_address, type: 'Router', definition: null }));
const answer = (from: string, to: string, status = 'ok') => ({ data: { from, to, homeassistant_rename: false }, status });

describe('telling a rename', () => {
  it('a new bridge/devices that lists an ieee_address under another name; the answer after it says it again, and is not told twice', () => {
    const told: Zigbee2mqttRename[] = [];
    const r = router('', (x) => told.push(x));
    send(r, 'zigbee2mqtt/bridge/devices', list({ Coordinator: '0x01', window_ac_plug: '0x842e14fffe5b1a2c', th1: '0x03' }));
    expect(told).toEqual([]);
    send(r, 'zigbee2mqtt/bridge/devices', list({ Coordinator: '0x01', 'Study/AC plug': '0x842e14fffe5b1a2c', th1: '0x03' }));
    send(r, 'zigbee2mqtt/bridge/response/device/rename', answer('window_ac_plug', 'Study/AC plug'));
    expect(told).toEqual([{ base: 'zigbee2mqtt', from: 'window_ac_plug', to: 'Study/AC plug', ieee: '0x842e14fffe5b1a2c', by: 'bridge/devices' }]);
  });

  it('the answer alone when no list was seen (or for a group), and not a refused rename', () => {
    const told: Zigbee2mqttRename[] = [];
    const r = router('', (x) => told.push(x));
    expect(send(r, 'zigbee2mqtt/bridge/response/device/rename', answer('a', 'b', 'error'))).toMatchObject({ outcome: 'recognised' });
    send(r, 'zigbee2mqtt/bridge/response/device/rename', answer('a', 'b'));
    send(r, 'zigbee2mqtt/bridge/response/group/rename', answer('hall_lights', 'hallway_lights'));
    expect(told.map((x) => [x.from, x.to, x.by])).toEqual([
      ['a', 'b', 'bridge/response'],
      ['hall_lights', 'hallway_lights', 'bridge/response'],
    ]);
  });
});

describe('a rename the map did not follow', () => {
  it('the new name’s dead letters name the entries that still name the old one, not devices assign alone', () => {
    const r = router('actuators:\n  hq/z1/hvac: zigbee2mqtt:window_ac_plug\n');
    send(r, 'zigbee2mqtt/bridge/devices', list({ window_ac_plug: '0x842e14fffe5b1a2c' }));
    send(r, 'zigbee2mqtt/bridge/devices', list({ study_ac_plug: '0x842e14fffe5b1a2c' }));
    const out = send(r, 'zigbee2mqtt/study_ac_plug', { state: 'ON', power: 410 });
    expect(out).toMatchObject({ outcome: 'unassigned' });
    expect(out.outcome === 'unassigned' && out.detail).toBe(
      'zigbee2mqtt:study_ac_plug is waiting for a zone: it was zigbee2mqtt:window_ac_plug before a rename in Zigbee2MQTT, and the device map still names that (actuators."hq/z1/hvac"): make those entries name zigbee2mqtt:study_ac_plug in DEVICES_FILE (devices assign does not change an actuators: entry); its readings are kept here',
    );
  });
});

describe('the file edit', () => {
  it('renames the key and every actuator entry, keeps comments, layout and the contract device of each placement', async () => {
    const file = await mapFile(`devices:
  # two probes on one node
  zigbee2mqtt:old:
    - { site: hq, zone: z1, channel: a }
    - { site: hq, zone: z2, channel: b, device: probe_b }
  zigbee2mqtt:other: { site: hq, zone: z3 }
actuators:
  hq/z1/hvac: zigbee2mqtt:old # the plug
  hq/z2/fan: { device: zigbee2mqtt:old, as: switch }
`);
    expect(await renameNative(file, 'zigbee2mqtt:old', 'zigbee2mqtt:Living Room/plug')).toBe(true);
    const text = await readFile(file, 'utf8');
    expect(text).toBe(`devices:
  # two probes on one node
  zigbee2mqtt:Living Room/plug:
    - { site: hq, zone: z1, channel: a, device: old }
    - { site: hq, zone: z2, channel: b, device: probe_b }
  zigbee2mqtt:other: { site: hq, zone: z3 }
actuators:
  hq/z1/hvac: zigbee2mqtt:Living Room/plug # the plug
  hq/z2/fan: { device: zigbee2mqtt:Living Room/plug, as: switch }
`);
    const map = parseDeviceMap(file, text);
    expect(map.devices.get('zigbee2mqtt:Living Room/plug')?.placements.map((p) => p.device)).toEqual(['old', 'probe_b']);
    expect(map.actuators.get('hq/z2/fan')).toMatchObject({ nativeId: 'Living Room/plug', as: 'switch' });
  });

  it('changes nothing when the file does not name the old name (another node wrote it), and refuses to make two entries for one device', async () => {
    const text = 'devices:\n  zigbee2mqtt:new: { site: hq, zone: z1, device: old }\n';
    const file = await mapFile(text);
    expect(await renameNative(file, 'zigbee2mqtt:old', 'zigbee2mqtt:new')).toBe(false);
    expect(await readFile(file, 'utf8')).toBe(text);
    const both = await mapFile('devices:\n  zigbee2mqtt:old: { site: hq, zone: z1 }\n  zigbee2mqtt:new: { site: hq, zone: z2 }\n');
    await expect(renameNative(both, 'zigbee2mqtt:old', 'zigbee2mqtt:new')).rejects.toThrow('devices."zigbee2mqtt:new" is there already');
  });
});

describe('following, when the file is behind or cannot be written', () => {
  async function follower(text: string) {
    const file = await mapFile(text);
    const { lines, stream } = captureLogs();
    const log = createLogger('info', stream);
    const clock = new ManualClock(Date.UTC(2026, 10, 29));
    const metrics = testMetrics(clock);
    const r = router('');
    const loader = new DeviceMapLoader({ file, log, watch: false, onChange: (m) => r.use(m) });
    await loader.start();
    const f = new RenameFollower({ router: r, loader, file, log, metrics, clock, base: 'zigbee2mqtt' });
    const rename = (from: string, to: string, base = 'zigbee2mqtt') => f.follow({ base, from, to, by: 'bridge/devices' });
    return { file, lines, metrics, r, f, rename, loader };
  }

  it('two renames in a row (a → b → c): the map in force names c at once and after the file is written', async () => {
    const { file, r, f, rename, loader } = await follower('actuators:\n  hq/z1/hvac: zigbee2mqtt:a\n');
    rename('a', 'b');
    rename('b', 'c');
    expect(r.actuator('hq/z1/hvac')?.nativeId).toBe('c');
    await f.settled();
    expect(r.actuator('hq/z1/hvac')?.nativeId).toBe('c');
    expect(await readFile(file, 'utf8')).toBe('actuators:\n  hq/z1/hvac: zigbee2mqtt:c\n');
    await loader.stop();
  });

  it('a file broken since it was loaded: followed in memory, and said (GW_ERR_DEVICE_RENAME, counted, on the device)', async () => {
    const { file, lines, metrics, r, f, rename, loader } = await follower('actuators:\n  hq/z1/hvac: zigbee2mqtt:a\n');
    await writeFile(file, 'actuators:\n  hq/z1/hvac: [zigbee2mqtt:a\n');
    rename('a', 'b');
    expect(r.actuator('hq/z1/hvac')?.nativeId).toBe('b');
    await f.settled();
    expect(await count(metrics, 'gateway_device_renames_total', { result: 'unsaved' })).toBe(1);
    const line = lines.find((l) => l['code'] === 'GW_ERR_DEVICE_RENAME');
    expect(line?.msg).toMatch(/^the rename of zigbee2mqtt:a to zigbee2mqtt:b is followed until the gateway restarts or the map is reloaded, but .*devices\.yaml could not be written \(.*not valid YAML.*\): edit it so that actuators\."hq\/z1\/hvac" name zigbee2mqtt:b$/s);
    expect(r.registry.get('zigbee2mqtt', 'b')?.problems).toEqual([line?.msg]);
    await loader.stop();
  });

  it('not followed: a rename by another bridge (another base), nor to a name the map cannot hold (found by a review)', async () => {
    const text = 'actuators:\n  hq/z1/hvac: zigbee2mqtt:heater_plug\n';
    const { file, metrics, r, f, rename, loader } = await follower(text);
    rename('heater_plug', 'mine', 'garage');
    rename('heater_plug', 'a+b#');
    rename('heater_plug', 'x'.repeat(300));
    await f.settled();
    expect(r.actuator('hq/z1/hvac')?.nativeId).toBe('heater_plug');
    expect(await readFile(file, 'utf8')).toBe(text);
    expect(await count(metrics, 'gateway_device_renames_total', { result: 'followed' })).toBe(0);
    await loader.stop();
  });
});
