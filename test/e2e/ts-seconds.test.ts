/**
 * A contract device that sends `ts` in epoch seconds (the contract says milliseconds): its
 * readings are stored at that time, in 1970, as history, as the contract says of a past ts. An
 * outside tester found them lost without a trace: no dead letter, no log, no counter. Now each is
 * counted and the device is named once, with what its ts reads as.
 */
import { expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { startGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

const { defer } = useCleanup();

it('counts readings dated in epoch seconds and names their device once, storing them where the contract says', async () => {
  const gw = await startGateway();
  defer(() => gw.stop());
  const device = await connect(gw.mqttUrl, { clientId: 'sec-1' });
  defer(() => device.endAsync(true));
  const seconds = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 3; i++) await device.publishAsync('sensors/hq/s1/sec-1/temperature', JSON.stringify({ value: 45, ts: seconds + i, id: `sec-${i}` }), { qos: 1 });
  // A correct one from another device: not counted, not said.
  await device.publishAsync('sensors/hq/s1/ok-1/temperature', JSON.stringify({ value: 21, ts: Date.now(), id: 'ok-0' }), { qos: 1 });
  await waitFor(async () => (await rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE device = 'sec-1'`)).length === 3, 'the three readings stored');
  const stored = await rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE device = 'sec-1'`);
  expect(stored.map((r) => new Date(r['time'] as string).getTime())).toEqual([0, 1, 2].map((i) => seconds + i));
  expect((await scrape(gw.httpUrl)).value('gateway_seconds_ts_total', { kind: 'temperature' })).toBe(3);
  const said = gw.logs.filter((l) => l['code'] === 'GW_ERR_TS_SECONDS');
  expect(said).toHaveLength(1);
  expect(said[0]).toMatchObject({ device: 'sec-1', ts: seconds });
  expect(String(said[0]!.msg)).toContain(new Date(seconds).toISOString());
});
