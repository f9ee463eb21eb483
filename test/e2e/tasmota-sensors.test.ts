/**
 * What a Tasmota's SENSOR says of the room, as real firmware sends it: the ADC thermistor
 * (`ANALOG`) is a Shelly's own board temperature on the Shelly templates and a Sonoff NSPanel's
 * room sensor; the message cannot tell which, so it is the room's only when the map's `keys:` says
 * so, and otherwise listed among the device's unmapped keys, not dropped unseen. A pressure in mmHg
 * or inHg (SetOption24, SetOption139) is stored in the hPa the map's `pressure` kind is in.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let firmware: MqttClient;
const sq = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

const room = { 'ANALOG.Temperature1': 'temperature' };

beforeAll(async () => {
  gw = await startWithMap({
    devices: {
      'tasmota:shelly25': { site: 'ts', zone: 'wall', device: 'shelly25' },
      'tasmota:nspanel': { site: 'ts', zone: 'hall', device: 'nspanel', keys: room },
      'tasmota:nspanel_f': { site: 'ts', zone: 'den', device: 'nspanel-f', keys: room },
      'tasmota:nspanel_plain': { site: 'ts', zone: 'attic', device: 'nspanel-plain' },
      'tasmota:bme_mm': { site: 'ts', zone: 'lab', device: 'bme-mm' },
      'tasmota:bme_in': { site: 'ts', zone: 'porch', device: 'bme-in' },
    },
    kinds: { pressure: { unit: 'hPa', type: 'number' } },
  });
  firmware = await connect(gw.mqttUrl, { clientId: 'DVES_SENSORS' });
});
afterAll(async () => {
  await firmware?.endAsync();
  await gw?.stop();
});

const stored = (kind: string, zone: string) => rows(gw.influxUrl, gw.db, `SELECT value FROM "${kind}" WHERE site = 'ts' AND zone = ${sq(zone)}`).then((r) => r.map((x) => x['value']));
const unmapped = async (key: string): Promise<string[]> => {
  const api = (await (await fetch(`${gw.httpUrl}/api/devices`)).json()) as { devices: { key: string; unmappedKeys: Record<string, number> }[] };
  return Object.keys(api.devices.find((d) => d.key === key)?.unmappedKeys ?? {});
};

describe('the ANALOG thermistor of a Tasmota', () => {
  it('a Shelly 2.5’s board temperature is not stored as the room’s; it is listed unmapped', async () => {
    // arendst/Tasmota issue #7991 (Shelly 2.5, template with ADC0 Temperature): ANALOG beside its ENERGY.
    await firmware.publishAsync('tele/shelly25/SENSOR', '{"Time":"2020-03-21T13:09:43","Switch1":"OFF","Switch2":"OFF","ANALOG":{"Temperature":49.6},"ENERGY":{"TotalStartTime":"2020-03-20T18:32:34","Total":0.004,"Yesterday":0.000,"Today":0.004,"Period":0,"Power":[0,0],"ApparentPower":[0,0],"ReactivePower":[0,0],"Factor":[0.00,0.00],"Frequency":50,"Voltage":232,"Current":[0.000,0.000]},"TempUnit":"C"}', { qos: 1 });
    await waitFor(async () => (await stored('power', 'wall')).length > 0, 'its ENERGY power, of the same message');
    expect(await stored('temperature', 'wall')).toEqual([]);
    expect(await unmapped('tasmota:shelly25')).toContain('ANALOG.Temperature');
  });

  it('a Sonoff NSPanel’s room sensor is the room’s temperature with keys: (in °F, converted)', async () => {
    // tasmota docs NSPanel.md: its thermistor on the ESP32's ADC (AdcParam1 2,11200,10000,4250): "ANALOG":{"Temperature1":…}.
    await firmware.publishAsync('tele/nspanel/SENSOR', '{"Time":"2022-01-14T12:58:06","ANALOG":{"Temperature1":27.4},"TempUnit":"C"}', { qos: 1 });
    await firmware.publishAsync('tele/nspanel_f/SENSOR', '{"Time":"2022-01-14T12:58:06","ANALOG":{"Temperature1":81.3},"TempUnit":"F"}', { qos: 1 });
    expect(await waitFor(async () => ((await stored('temperature', 'hall')).length ? stored('temperature', 'hall') : undefined), 'the NSPanel’s temperature')).toEqual([27.4]);
    expect(await waitFor(async () => ((await stored('temperature', 'den')).length ? stored('temperature', 'den') : undefined), 'the °F NSPanel’s temperature')).toEqual([27.39]);
  });

  it('without keys:, the NSPanel’s reading is listed among its unmapped keys, not dropped unseen', async () => {
    await firmware.publishAsync('tele/nspanel_plain/SENSOR', '{"Time":"2022-01-14T12:58:06","ANALOG":{"Temperature1":22.1},"TempUnit":"C"}', { qos: 1 });
    expect(await waitFor(async () => ((await unmapped('tasmota:nspanel_plain')).length ? unmapped('tasmota:nspanel_plain') : undefined), 'its unmapped key')).toEqual(['ANALOG.Temperature1']);
    expect(await stored('temperature', 'attic')).toEqual([]);
  });
});

describe('a Tasmota pressure in mmHg or inHg', () => {
  it('is stored in hPa, the kind’s unit, not dead-lettered', async () => {
    // tasmota docs Commands.md: SetOption24 1 reports mmHg, SetOption139 1 (with it) inHg; PressureUnit says which.
    await firmware.publishAsync('tele/bme_mm/SENSOR', '{"Time":"2024-02-10T09:12:41","BME280":{"Temperature":21.3,"Humidity":45.2,"DewPoint":9.1,"Pressure":760.1},"PressureUnit":"mmHg","TempUnit":"C"}', { qos: 1 });
    await firmware.publishAsync('tele/bme_in/SENSOR', '{"Time":"2024-02-10T09:12:41","BME280":{"Temperature":21.3,"Humidity":45.2,"DewPoint":9.1,"Pressure":29.92},"PressureUnit":"inHg","TempUnit":"C"}', { qos: 1 });
    await waitFor(async () => (await stored('humidity', 'porch')).length > 0, 'the readings of the second message');
    expect(await stored('pressure', 'lab')).toEqual([1013.38]);
    expect(await stored('pressure', 'porch')).toEqual([1013.21]);
    expect(await rows(gw.influxUrl, gw.db, `SELECT detail FROM deadletters WHERE topic =~ /bme_/`)).toEqual([]);
  });
});
