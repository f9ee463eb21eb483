/**
 * "Exactly once in the store, at most once in the rules" across the gateway's restart: a device
 * whose acknowledgement was lost in the restart sends its last reading again. The reading is in
 * the history, so the resend (same id, same value, same `ts` or none) is a duplicate: counted,
 * neither stored again nor ruled again. Before, ingest's memory of ids started empty at each
 * start, so the resend raised the smoke alarm's count again and commanded again (outside tester).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../../helpers/cleanup.js';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { rows, uniqueDb } from '../../helpers/influx.js';
import { marker } from '../../helpers/kept.js';
import { connect } from '../../helpers/mqtt.js';
import { scrape } from '../../helpers/prometheus.js';
import { waitFor } from '../../helpers/wait.js';

const { defer } = useCleanup();

interface AlarmView {
  rule: string;
  count: number;
}

const smokeAlarm = async (gw: TestGateway): Promise<AlarmView | undefined> => {
  const body = (await (await fetch(`${gw.httpUrl}/api/alarms`)).json()) as { alarms: AlarmView[] };
  return body.alarms.find((a) => a.rule === 'smoke-alarm');
};

describe('a resend after the gateway restarted', () => {
  it('is a duplicate: not stored again, not ruled again (with ts, and without)', { timeout: 120_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-resend-restart-'));
    defer(() => rm(dataDir, { recursive: true, force: true }));
    const db = uniqueDb('resend_restart');
    const smoke = { topic: 'sensors/hq/f1/sd-9/smoke', payload: JSON.stringify({ value: true, ts: Date.now() - 1000, id: 'sd-9-41' }) };
    const warm = { topic: 'sensors/hq/f1/t-9/temperature', payload: JSON.stringify({ value: 21.5, id: 't-9-17' }) };

    let gw = await startGateway({ dataDir, db });
    let device = await connect(gw.mqttUrl, { clientId: 'resender' });
    for (const m of [smoke, warm]) await device.publishAsync(m.topic, m.payload, { qos: 1 });
    await marker(device, gw.influxUrl, db);
    const raised = await waitFor(() => smokeAlarm(gw), 'the smoke alarm');
    await device.endAsync(true);
    await gw.stop();

    gw = await startGateway({ dataDir, db });
    defer(() => gw.stop());
    device = await connect(gw.mqttUrl, { clientId: 'resender' });
    defer(() => device.endAsync(true));
    for (const m of [smoke, warm]) await device.publishAsync(m.topic, m.payload, { qos: 1 });
    await marker(device, gw.influxUrl, db);

    const metrics = await scrape(gw.httpUrl);
    expect(metrics.value('gateway_duplicates_total'), 'both resends are duplicates').toBe(2);
    expect((await smokeAlarm(gw))?.count, 'the smoke alarm, not raised again').toBe(raised.count);
    expect(await rows(gw.influxUrl, db, `SELECT value FROM smoke WHERE device = 'sd-9'`)).toHaveLength(1);
    expect(await rows(gw.influxUrl, db, `SELECT value FROM temperature WHERE device = 't-9'`)).toHaveLength(1);
  });
});
