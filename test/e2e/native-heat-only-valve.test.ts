/**
 * A heat-only radiator valve (Danfoss Ally 014G2461, sold as Hive UK7004240 and Popp 701721) was
 * never turned down: its Zigbee2MQTT climate expose's `system_mode` takes only `heat`, so for HVAC
 * off or cool (summer, a window open, nobody home) the gateway sent nothing
 * (GW_ERR_NATIVE_COMMAND) and the valve went on heating. What Home Assistant and Zigbee2MQTT users
 * do instead is what is sent now: its heating setpoint at its minimum (frost protection), the
 * setpoint feature's `value_min` in the same expose, `{"occupied_heating_setpoint":5}`, with no
 * system_mode. The valve then reports `system_mode: heat` at setpoint 5: that confirms the off,
 * it is not a change by hand.
 *
 * Real gateway, real InfluxDB, a real MQTT client acting as the bridge: `bridge/devices` lists the
 * Ally with the exposes zigbee-herdsman-converters gives it (the fixture's `living_trv`); its
 * `/set` is answered as the valve does, by its state report once the value is one it takes.
 */

import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startValveBench, type ValveBench } from '../helpers/heat-only-valve.js';
import { waitFor } from '../helpers/wait.js';

let bench: ValveBench;
const alarms = () => bench.gw.gateway.rules.runtime.alarms.active().filter((a) => a.zone === 'v1').map((a) => a.rule);

// rules-simple: cool above 26 °C, heat below 18 °C, off from 19 to 24 °C; no minimum on/off time.
beforeAll(async () => void (bench = await startValveBench(resolve(import.meta.dirname, '..', 'fixtures', 'rules-simple'))));
afterAll(async () => bench?.stop());

describe('a heat-only valve (Danfoss Ally: system_mode heat only, heating setpoint 5 to 35)', () => {
  it('told to cool, is sent its heating setpoint at its minimum, no system_mode, logged with the command’s id; its report at 5 confirms it', async () => {
    const { command: c, set } = await bench.command(30);
    expect(c.cloudEvent.data).toEqual({ mode: 'cool', setpoint: 22 });
    expect(set).toBe('{"occupied_heating_setpoint":5}');
    expect(bench.gw.logs.find((l) => l.level === 30 && l['commandId'] === c.id && l['asked'] === 'cool')).toMatchObject({ target: 'hq/v1/hvac', sent: { occupied_heating_setpoint: 5 } });
    expect(bench.gw.logs.filter((l) => l['code'] === 'GW_ERR_NATIVE_COMMAND')).toEqual([]);
    expect(await bench.statuses()).toEqual(['sent', 'confirmed']);
    expect(alarms()).toEqual([]);
  });

  it('told to heat, is sent heat at the rules’ setpoint (back up from its minimum)', async () => {
    const { set } = await bench.command(12);
    expect(set).toBe('{"system_mode":"heat","occupied_heating_setpoint":21}');
    expect((await bench.statuses()).slice(-2)).toEqual(['sent', 'confirmed']);
  });

  it('told off, is sent its minimum; its report {"system_mode":"heat","occupied_heating_setpoint":5} confirms the off, and a later report at 5 is no change by hand', async () => {
    const { command: c, set } = await bench.command(21);
    expect(c.cloudEvent.data).toEqual({ mode: 'off' });
    expect(set).toBe('{"occupied_heating_setpoint":5}');
    expect((await bench.statuses()).slice(-2)).toEqual(['sent', 'confirmed']);
    // The valve reports again (the room cooled a little): still at its minimum, still heat.
    const heard = bench.reports();
    bench.valve.local_temperature = 18.6;
    await bench.report();
    await waitFor(() => bench.reports() > heard, 'the valve’s later report');
    await bench.pastTheSaga();
    expect(await bench.statuses()).not.toContain('overridden');
    expect(alarms()).toEqual([]);
    expect(bench.gw.gateway.rules.runtime.alarms.active().filter((a) => a.rule === 'manual_override')).toEqual([]);
  });
});
