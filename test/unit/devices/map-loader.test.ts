import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isKind } from '../../../gateway/core/kinds.js';
import { DeviceMapLoader } from '../../../gateway/devices/map-loader.js';
import { assignDevice, unassignDevice } from '../../../gateway/devices/map-edit.js';
import { DeviceMapError, parseDeviceMap, type DeviceMap } from '../../../gateway/devices/map.js';
import { createLogger } from '../../../gateway/observability/log.js';
import { captureLogs } from '../../helpers/gateway.js';
import { waitFor } from '../../helpers/wait.js';

const dirs: string[] = [];
const loaders: DeviceMapLoader[] = [];
afterEach(async () => {
  for (const l of loaders.splice(0)) await l.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function setup(text?: string) {
  const dir = await mkdtemp(join(tmpdir(), 'gw-map-'));
  dirs.push(dir);
  const file = join(dir, 'devices.yaml');
  if (text !== undefined) await writeFile(file, text);
  const { lines, stream } = captureLogs();
  const maps: DeviceMap[] = [];
  const loader = new DeviceMapLoader({ file, log: createLogger('info', stream), onChange: (m) => maps.push(m), debounceMs: 10 });
  loaders.push(loader);
  return { file, loader, maps, lines };
}

describe('the device map file', () => {
  it('ships an example that loads as it is', async () => {
    const text = await readFile(join(import.meta.dirname, '..', '..', '..', 'devices.example.yaml'), 'utf8');
    const map = parseDeviceMap('devices.example.yaml', text);
    expect(map.devices.size).toBeGreaterThan(5);
    expect(map.actuators.get('hq/f1/lights')).toMatchObject({ family: 'tasmota', nativeId: 'f1_relay', channel: '2' });
    expect(map.kinds.map((k) => k.name)).toEqual(['pressure', 'pm25', 'voc', 'voltage', 'leak']);
  });

  it('refuses a broken map with every problem, each naming the entry', () => {
    const bad = `devices:
  tasmota:x: { site: "a b", zone: f1 }
  foo:bar: { site: a, zone: b }
  esphome:n: { site: a, zone: b, keys: { sensor/x: parsecs } }
actuators:
  hq/f1: tasmota:x
  hq/f2/hvac: { device: esphome:n }
kinds:
  temperature2: { type: string }
`;
    let err: DeviceMapError | undefined;
    try {
      parseDeviceMap('devices.yaml', bad);
    } catch (e) {
      err = e as DeviceMapError;
    }
    expect(err?.code).toBe('GW_ERR_DEVICE_MAP');
    expect(err?.problems).toEqual([
      'kinds.temperature2.type: must be number or boolean (got "string")',
      'kinds.temperature2.unit: required for a number kind (hPa, µg/m³, ppb, V…)',
      'devices."tasmota:x".site: must match [A-Za-z0-9_-]{1,64} (got "a b")',
      'devices."foo:bar": must be <family>:<native id> with a family of zigbee2mqtt, tasmota, shelly, esphome, homeassistant, generic',
      'devices."esphome:n".keys."sensor/x": "parsecs" is not a kind (the contract\'s, or one under kinds:) nor ignore',
      'actuators."hq/f1": must be <site>/<zone>/<actuator>, each [A-Za-z0-9_-]{1,64}',
      'actuators."hq/f2/hvac".channel: required for ESPHome: the switch or climate object id (light:<id> for a light, fan:<id> for a fan)',
    ]);
    expect(() => parseDeviceMap('devices.yaml', 'devices: [1')).toThrow(/devices.yaml: not valid YAML/);
  });

  it('says an actuator is a plain switch or a thermostat with as:, refusing what the device cannot be', () => {
    const map = parseDeviceMap('devices.yaml', `actuators:
  hq/f5/hvac: { device: zigbee2mqtt:f5_plug, as: switch }
  hq/f6/hvac: { device: esphome:f6-node, channel: hvac, as: thermostat }
  hq/f7/hvac: zigbee2mqtt:f7_trv
`);
    expect(map.actuators.get('hq/f5/hvac')?.as).toBe('switch');
    expect(map.actuators.get('hq/f6/hvac')?.as).toBe('thermostat');
    expect(map.actuators.get('hq/f7/hvac')?.as).toBeUndefined();
    const appliances = parseDeviceMap('devices.yaml', `actuators:
  hq/f8/hvac: { device: esphome:f8-node, channel: heater, as: heater }
  hq/f9/hvac: { device: tasmota:f9_relay, channel: 1, as: cooler }
`);
    expect(appliances.actuators.get('hq/f8/hvac')).toMatchObject({ as: 'switch', drives: 'heater' });
    expect(appliances.actuators.get('hq/f9/hvac')).toMatchObject({ as: 'switch', drives: 'cooler' });
    expect(() => parseDeviceMap('devices.yaml', 'actuators:\n  hq/e/hvac: { device: zigbee2mqtt:e, as: heater, setpoint: current_heating_setpoint }\n')).toThrow(/a heater on a switch has no setpoint/);
    const bad = `actuators:
  hq/a/hvac: { device: zigbee2mqtt:a, as: plug }
  hq/b/hvac: { device: tasmota:b, as: thermostat }
  hq/c/hvac: { device: zigbee2mqtt:c, as: switch, setpoint: current_heating_setpoint }
  hq/d/lights: { device: esphome:d, channel: light:ceiling, as: thermostat }
`;
    expect(() => parseDeviceMap('devices.yaml', bad)).toThrow(DeviceMapError);
    try {
      parseDeviceMap('devices.yaml', bad);
    } catch (e) {
      expect((e as DeviceMapError).problems).toEqual([
        'actuators."hq/a/hvac".as: must be switch (a relay or plug: on/off only), heater or cooler (a switch on only for heat, or only for cool) or thermostat (takes a mode and setpoint) (got "plug")',
        'actuators."hq/b/hvac".as: a tasmota relay is switched on and off, never a thermostat',
        'actuators."hq/c/hvac".as: a switch has no setpoint (remove setpoint:)',
        'actuators."hq/d/lights".as: an ESPHome light or fan is switched on and off, never a thermostat',
      ]);
    }
  });

  it('is an empty map when the file is missing, and loads it once it appears', async () => {
    const { file, loader, maps } = await setup();
    await loader.start();
    expect(loader.map.devices.size).toBe(0);
    await writeFile(file, 'devices:\n  zigbee2mqtt:a: { site: hq, zone: f1 }\n');
    await waitFor(() => maps.some((m) => m.devices.has('zigbee2mqtt:a')), 'the new file loaded');
    expect(loader.map.devices.has('zigbee2mqtt:a')).toBe(true);
  });

  it('reloads on change; a broken edit is refused naming the file and the entry, and the map in force stays', async () => {
    const { file, loader, maps, lines } = await setup('kinds:\n  pressure: { unit: hPa }\ndevices:\n  zigbee2mqtt:a: { site: hq, zone: f1 }\n');
    await loader.start();
    expect(isKind('pressure')).toBe(true);
    await writeFile(file, 'devices:\n  zigbee2mqtt:a: { site: hq }\n');
    await waitFor(() => loader.problem, 'the broken edit refused');
    expect(loader.problem).toContain('devices."zigbee2mqtt:a".zone: must match [A-Za-z0-9_-]{1,64} (required)');
    expect(lines.find((l) => l['code'] === 'GW_ERR_DEVICE_MAP')?.msg).toMatch(/devices\.yaml: .*the map in force stays/);
    expect(loader.map.devices.get('zigbee2mqtt:a')?.placements[0]?.zone).toBe('f1');
    expect(isKind('pressure')).toBe(true);
    // A map that redefines a contract kind is refused whole.
    await writeFile(file, 'kinds:\n  temperature: { unit: K }\n');
    await waitFor(() => loader.problem?.includes("one of the contract's"), 'the kind refused');
    await writeFile(file, 'devices:\n  zigbee2mqtt:a: { site: hq, zone: f2 }\n');
    await waitFor(() => maps.some((m) => m.devices.get('zigbee2mqtt:a')?.placements[0]?.zone === 'f2'), 'the fixed file loaded');
    expect(loader.problem).toBeUndefined();
    expect(loader.map.devices.get('zigbee2mqtt:a')?.placements[0]?.zone).toBe('f2');
    expect(isKind('pressure')).toBe(false);
  });

  it('refuses a Tasmota FullTopic or prefix with + or # (no device publishes there; commands under it would go to a wildcard), not one whose %topic% is part of a level', () => {
    const bad = `tasmota:
  fullTopics: ["%prefix%/%topic%/", "home/+/%prefix%/%topic%/", "%prefix%/%topic%/#"]
  prefixes: { cmnd: "cmnd", stat: "st+at", tele: "" }
  prefix: { cmnd: c }
`;
    let err: DeviceMapError | undefined;
    try {
      parseDeviceMap('devices.yaml', bad);
    } catch (e) {
      err = e as DeviceMapError;
    }
    expect(err?.code).toBe('GW_ERR_DEVICE_MAP');
    expect(err?.problems).toEqual([
      'tasmota.prefix: unknown (expected fullTopics, prefixes)',
      'tasmota.fullTopics[1]: "home/+/%prefix%/%topic%/" holds + or # (a wildcard): a FullTopic is a topic, commands under it could not be published',
      'tasmota.fullTopics[2]: "%prefix%/%topic%/#" holds + or # (a wildcard): a FullTopic is a topic, commands under it could not be published',
      'tasmota.prefixes.stat: must be a word without + or # (got "st+at")',
      'tasmota.prefixes.tele: must be a word without + or # (got "")',
    ]);
    // Not whole levels: the decoder reads it (such a Tasmota needs a bridge credential, the native ACL grants only whole levels).
    expect(parseDeviceMap('devices.yaml', 'tasmota:\n  fullTopics: ["home/%prefix%-%topic%/"]\n  prefixes: { cmnd: c }\n').tasmota).toEqual({ fullTopics: ['home/%prefix%-%topic%/'], prefixes: { cmnd: 'c' } });
  });

  it('keeps the map in force when a reload brings a FullTopic with a wildcard', async () => {
    const { file, loader, maps, lines } = await setup('tasmota:\n  fullTopics: ["home/%topic%/%prefix%/"]\n');
    await loader.start();
    expect(loader.map.tasmota?.fullTopics).toEqual(['home/%topic%/%prefix%/']);
    await writeFile(file, 'tasmota:\n  fullTopics: ["home/#/%topic%/%prefix%/"]\n');
    await waitFor(() => loader.problem, 'the wildcard template refused');
    expect(loader.problem).toContain('tasmota.fullTopics[0]: "home/#/%topic%/%prefix%/" holds + or #');
    expect(lines.find((l) => l['code'] === 'GW_ERR_DEVICE_MAP')?.msg).toMatch(/the map in force stays/);
    expect(loader.map.tasmota?.fullTopics).toEqual(['home/%topic%/%prefix%/']);
    expect(maps.some((m) => m.tasmota?.fullTopics?.some((t) => t.includes('#')))).toBe(false);
  });

  it('is edited by the CLI keeping its comments, and never left broken', async () => {
    const { file } = await setup('# my building\ndevices:\n  # the weather station\n  zigbee2mqtt:a: { site: hq, zone: f1 }\n');
    await assignDevice(file, 'tasmota:plug 1', { site: 'hq', zone: 'f2', device: 'plug-1' });
    expect(await readFile(file, 'utf8')).toBe('# my building\ndevices:\n  # the weather station\n  zigbee2mqtt:a: { site: hq, zone: f1 }\n  tasmota:plug 1: { site: hq, zone: f2, device: plug-1 }\n');
    await expect(assignDevice(file, 'tasmota:x', { site: 'hq', zone: 'bad zone' })).rejects.toThrow(/zone: must match/);
    expect(await unassignDevice(file, 'zigbee2mqtt:a')).toBe(true);
    expect(parseDeviceMap(file, await readFile(file, 'utf8')).devices.has('zigbee2mqtt:a')).toBe(false);
  });
});
