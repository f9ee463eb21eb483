/**
 * A heat-only radiator valve (Danfoss Ally: system_mode heat only) is turned down to its lowest
 * heating setpoint for off (native-heat-only-valve.test.ts). A rule that then commands `heat`
 * without a setpoint (the valve was to keep its own) sent `{"system_mode":"heat"}` alone: the valve
 * stayed at 5 °C, the room cold. It is sent back the setpoint it reported before it was turned
 * down.
 *
 * Real gateway, real InfluxDB, a real MQTT client as the bridge (the fixture's `living_trv`, the
 * exposes zigbee-herdsman-converters gives the Ally), answering each `/set` as the valve does.
 */

import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startValveBench, type ValveBench } from '../helpers/heat-only-valve.js';

let bench: ValveBench;

// cool above 26 °C, heat below 18 °C without a setpoint, off from 19 to 24 °C; no minimum on/off time.
beforeAll(async () => void (bench = await startValveBench(resolve(import.meta.dirname, '..', 'fixtures', 'rules-heat-no-setpoint'))));
afterAll(async () => bench?.stop());

describe('a heat-only valve turned down, then told to heat without a setpoint', () => {
  it('is sent heat with the setpoint it had before the turn-down (21), not left at its minimum', async () => {
    const down = await bench.command(21);
    expect(down.command.cloudEvent.data).toEqual({ mode: 'off' });
    expect(down.set).toBe('{"occupied_heating_setpoint":5}');
    const up = await bench.command(12);
    expect(up.command.cloudEvent.data).toEqual({ mode: 'heat' });
    expect(up.set).toBe('{"system_mode":"heat","occupied_heating_setpoint":21}');
    expect(bench.valve.occupied_heating_setpoint).toBe(21);
    expect((await bench.statuses()).slice(-2)).toEqual(['sent', 'confirmed']);
  });
});
