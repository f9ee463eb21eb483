/**
 * A device reusing an id at one `ts` with other values (its counter restarted): each is a new
 * reading, kept and acknowledged, so each must be its own point. Found from outside: d1 at one ts
 * with 41, 42, then (70 readings later, the series' memory of 64 having forgotten them) 43, or 43
 * after the gateway's restart: InfluxDB held 41 and 43, the 42 was gone (43 derived its point).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

const { defer } = useCleanup();
const TOPIC = 'sensors/tt/zf/devG/humidity';

async function send(gw: TestGateway, readings: { value: number; ts: number; id: string }[]): Promise<void> {
  const device = await connect(gw.mqttUrl, { clientId: `devG-${Math.random()}` });
  // One at a time, in order: the acknowledgement (QoS 1) says the reading is durable.
  for (const r of readings) await device.publishAsync(TOPIC, JSON.stringify(r), { qos: 1 });
  await device.endAsync();
}

async function written(gw: TestGateway, atLeast: number): Promise<void> {
  await waitFor(async () => {
    const m = await scrape(gw.httpUrl);
    return m.value('gateway_spool_events') === 0 && (m.value('gateway_points_written_total') ?? 0) >= atLeast;
  }, 'everything written');
}

const d1 = async (gw: TestGateway): Promise<number[]> => (await rows(gw.influxUrl, gw.db, `SELECT value FROM humidity WHERE device = 'devG' AND event_id = 'd1'`)).map((r) => Number(r['value'])).sort();

it('keeps every value a device sent under one id at one ts, after the memory forgot them and across a restart; resends stay one point', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-id-reuse-'));
  defer(() => rm(dataDir, { recursive: true, force: true }));
  const db = uniqueDb('id_reuse');
  let gw = await startGateway({ dataDir, db, env: { STATS_INTERVAL_MS: '0' } });
  defer(() => gw.stop());
  // After the start: the first reading at T is at T exactly (offset 0), as the tester saw it.
  const T = Date.now();
  const others = Array.from({ length: 70 }, (_, i) => ({ value: 50, ts: T + 1 + i, id: `o${i}` }));
  await send(gw, [{ value: 41, ts: T, id: 'd1' }, { value: 42, ts: T, id: 'd1' }, ...others, { value: 43, ts: T, id: 'd1' }]);
  await written(gw, 73);
  expect(await d1(gw)).toEqual([41, 42, 43]);
  // 42 sent again (the memory forgot it): its same point.
  await send(gw, [{ value: 42, ts: T, id: 'd1' }]);
  await written(gw, 74);
  expect(await d1(gw)).toEqual([41, 42, 43]);
  const [at41] = await rows(gw.influxUrl, gw.db, `SELECT value FROM humidity WHERE device = 'devG' AND time = ${T}ms`);
  expect(at41?.['value']).toBe(41);
  await gw.stop();
  // After a restart: another value of d1 at T, and resends of the earlier ones.
  gw = await startGateway({ dataDir, db, env: { STATS_INTERVAL_MS: '0' } });
  await send(gw, [{ value: 44, ts: T, id: 'd1' }, { value: 43, ts: T, id: 'd1' }, { value: 42, ts: T, id: 'd1' }]);
  await written(gw, 1);
  expect(await d1(gw)).toEqual([41, 42, 43, 44]);
});
