/** Native devices in tests: a gateway with a device map, and maps made from the fixture corpus. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { deviceName } from '../../gateway/devices/map.js';
import type { Family } from '../../gateway/devices/types.js';
import type { NativeFixture } from '../fixtures/native/fixture.js';
import { startGateway, type TestGateway, type TestGatewayOptions } from './gateway.js';

/** A gateway whose DEVICES_FILE holds `map` (YAML text or an object). */
export async function startWithMap(map: string | object, o: TestGatewayOptions = {}): Promise<TestGateway & { mapFile: string }> {
  const dataDir = o.dataDir ?? (await mkdtemp(join(tmpdir(), 'gw-test-native-')));
  const mapFile = join(dataDir, 'devices.yaml');
  await writeFile(mapFile, typeof map === 'string' ? map : stringify(map));
  const gw = await startGateway({ ...o, dataDir, env: { DEVICES_FILE: mapFile, ...o.env } });
  // The directory is this helper's when the caller gave none: removed with the gateway.
  const stop = async (): Promise<void> => {
    await gw.stop();
    if (!o.dataDir) await rm(dataDir, { recursive: true, force: true });
  };
  return { ...gw, stop, mapFile };
}

/** Where the fixture corpus's devices are placed: site `fx`, zone = family, device per native id and channel. */
export class FixturePlaces {
  readonly devices: Record<string, { site: string; zone: string; device: string; channel?: string }[]> = {};
  readonly actuators: Record<string, { device: string; channel?: string }> = {};
  private readonly actuatorNames = new Map<string, string>();

  constructor(readonly zone: (family: Family) => string = (f) => f) {}

  base(family: Family, nativeId: string): string {
    const key = `${family}:${nativeId}`;
    if (!this.devices[key]) this.devices[key] = [{ site: 'fx', zone: this.zone(family), device: deviceName(nativeId).slice(0, 48) }];
    return this.devices[key][0]!.device;
  }

  /** The contract device a reading of this channel is stored under (one placement per channel). */
  device(family: Family, nativeId: string, channel: string | undefined): string {
    const base = this.base(family, nativeId);
    if (channel === undefined) return base;
    const list = this.devices[`${family}:${nativeId}`]!;
    const found = list.find((p) => p.channel === channel);
    if (found) return found.device;
    const device = `${base}-c${list.length}`;
    list.push({ site: 'fx', zone: this.zone(family), device, channel });
    return device;
  }

  /** The actuator a report of this channel is mapped to. */
  actuator(family: Family, nativeId: string, channel: string | undefined): string {
    const key = `${family}:${nativeId}#${channel ?? ''}`;
    let name = this.actuatorNames.get(key);
    if (!name) {
      name = `a${this.actuatorNames.size + 1}`;
      this.actuatorNames.set(key, name);
      this.base(family, nativeId);
      this.actuators[`fx/${this.zone(family)}/${name}`] = { device: `${family}:${nativeId}`, ...(channel === undefined ? {} : { channel }) };
    }
    return name;
  }

  /** Places every device of the fixtures that carries values or availability. */
  add(family: Family, fixtures: readonly NativeFixture[]): void {
    for (const f of fixtures) {
      const e = f.expect;
      if ('decoded' in e) {
        this.base(family, e.decoded.nativeId);
        for (const r of e.decoded.readings) this.device(family, e.decoded.nativeId, r.channel);
        for (const a of e.decoded.actuators ?? []) this.actuator(family, e.decoded.nativeId, a.channel);
      } else if ('availability' in e && e.availability.scope !== 'bridge') this.base(family, e.availability.nativeId);
    }
  }
}
