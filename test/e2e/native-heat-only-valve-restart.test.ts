/**
 * A heat-only radiator valve (Danfoss Ally) turned down to its lowest heating setpoint for off is
 * sent back the setpoint it had before when a rule then commands `heat` without one
 * (native-heat-only-valve-resume.test.ts). That setpoint was kept in memory only: a gateway
 * restarted between the turn-down (an evening) and the heat (a morning) sent `{"system_mode":"heat"}`
 * alone, and the valve stayed at 5 °C. It is kept in DATA_DIR across the restart, for the actuators
 * the device map names only: one it no longer names is forgotten at the start and at a reload.
 *
 * Real gateways one after the other on one DATA_DIR and one InfluxDB database, a real MQTT client
 * as the bridge (the fixture's `living_trv`), answering each `/set` as the valve does.
 */

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startValveBench, type ValveBench } from '../helpers/heat-only-valve.js';
import { waitFor } from '../helpers/wait.js';

// cool above 26 °C, heat below 18 °C without a setpoint, off from 19 to 24 °C; no minimum on/off time.
const rulesDir = resolve(import.meta.dirname, '..', 'fixtures', 'rules-heat-no-setpoint');
let dataDir: string;
let bench: ValveBench | undefined;

beforeAll(async () => void (dataDir = await mkdtemp(join(tmpdir(), 'gw-test-valve-restart-'))));
afterAll(async () => {
  await bench?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a heat-only valve turned down, the gateway restarted, then told to heat without a setpoint', () => {
  it('is sent heat with the setpoint it had before the turn-down (21), not left at its minimum', async () => {
    const first = (bench = await startValveBench(rulesDir, { dataDir }));
    const down = await first.command(21);
    expect(down.set).toBe('{"occupied_heating_setpoint":5}');
    expect(first.valve.occupied_heating_setpoint).toBe(5);
    const { db } = first.gw;
    const [at, valve] = [first.clock.now(), { ...first.valve }];
    await first.stop();
    bench = undefined;
    expect(JSON.parse(await readFile(join(dataDir, 'valve-setpoints.json'), 'utf8'))).toEqual({ 'hq/v1/hvac': 21 });

    const second = (bench = await startValveBench(rulesDir, { dataDir, db, at, valve }));
    const up = await second.command(12);
    expect(up.command.cloudEvent.data).toEqual({ mode: 'heat' });
    expect(up.set).toBe('{"system_mode":"heat","occupied_heating_setpoint":21}');
    expect(second.valve.occupied_heating_setpoint).toBe(21);
    expect((await second.statuses()).slice(-2)).toEqual(['sent', 'confirmed']);
  });

  it('forgets the setpoints of actuators the device map no longer names: at the start, and when the map is reloaded', async () => {
    const { db } = bench!.gw;
    await bench!.stop();
    bench = undefined;
    const file = join(dataDir, 'valve-setpoints.json');
    const kept = async () => JSON.parse(await readFile(file, 'utf8')) as Record<string, number>;
    // hq/gone/hvac: a valve an earlier map named, removed since.
    await writeFile(file, JSON.stringify({ 'hq/v1/hvac': 21, 'hq/gone/hvac': 19 }));
    const third = (bench = await startValveBench(rulesDir, { dataDir, db }));
    await waitFor(async () => Object.keys(await kept()).length === 1, 'the file pruned at the start');
    expect(await kept()).toEqual({ 'hq/v1/hvac': 21 });
    // The valve moves to zone v2: hq/v1/hvac is no longer named.
    await writeFile(third.gw.mapFile, "actuators:\n  hq/v2/hvac: 'zigbee2mqtt:living_trv'\n");
    await third.gw.gateway.devices.reload();
    await waitFor(async () => Object.keys(await kept()).length === 0, 'the file pruned at the reload');
    expect(third.gw.logs.filter((l) => String(l.msg).startsWith('forgot the setpoints kept')).map((l) => l['targets'])).toEqual([['hq/gone/hvac'], ['hq/v1/hvac']]);
  });
});
