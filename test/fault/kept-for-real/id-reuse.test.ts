/**
 * Issue 14, situation 7: a duplicate is the same id with the same content. The same id with
 * other content (a device whose counter restarted after a reboot, a simulator run twice) is a
 * new reading: acknowledged, so kept. And the simulator's ids are unique per run.
 *
 * Written to fail on today's code: Series.seen() (ingest/series.ts) remembers only ids (the last
 * 64 per topic) and Ingest.reading() drops any repeat, whatever its content, without a log
 * line; simulators/devices.ts names readings `<device>-<seq>`, the same in every run.
 */
import { describe, expect, inject, it } from 'vitest';
import { runSimulation } from '../../../simulators/simulator.js';
import { useCleanup } from '../../helpers/cleanup.js';
import { startGateway } from '../../helpers/gateway.js';
import { countReadings, rows } from '../../helpers/influx.js';
import { marker } from '../../helpers/kept.js';
import { connect } from '../../helpers/mqtt.js';
import { scrape } from '../../helpers/prometheus.js';

const { defer } = useCleanup();

describe('issue 14 (7): same id, different content', () => {
  it('keeps a reading whose id repeats with other content, and still drops a true resend', async () => {
    const gw = await startGateway();
    defer(() => gw.stop());
    const device = await connect(gw.mqttUrl, { clientId: 'reboot-1' });
    defer(() => device.endAsync(true));
    const topic = 'sensors/reuse/z1/reboot-1/temperature';
    const t1 = Date.now() - 60_000;
    const first = JSON.stringify({ value: 20, ts: t1, seq: 1, id: 'reboot-1-1' });
    await device.publishAsync(topic, first, { qos: 1 });
    await device.publishAsync(topic, first, { qos: 1 }); // a resend: a true duplicate
    // The device rebooted and its counter started again at 1.
    await device.publishAsync(topic, JSON.stringify({ value: 25, ts: t1 + 30_000, seq: 1, id: 'reboot-1-1' }), { qos: 1 });
    await marker(device, gw.influxUrl, gw.db);

    const stored = await rows(gw.influxUrl, gw.db, `SELECT value, event_id FROM temperature WHERE device = 'reboot-1'`);
    expect.soft(stored.map((r) => [r['time'], r['value']]), 'points of reboot-1').toEqual([
      [t1, 20],
      [t1 + 30_000, 25],
    ]);
    const metrics = await scrape(gw.httpUrl);
    expect.soft(metrics.value('gateway_duplicates_total'), 'true duplicates dropped').toBe(1);
    expect(metrics.families.has('gateway_id_reuse_total') ? metrics.value('gateway_id_reuse_total') : 'no gateway_id_reuse_total', 'ids reused with other content').toBe(1);
  });

  it('the simulator run twice against one gateway: its ids are unique per run and every acknowledged reading is kept', { timeout: 120_000 }, async () => {
    const gw = await startGateway();
    defer(() => gw.stop());
    const influx = inject('influxUrl');
    const runs: string[][] = [];
    for (let run = 0; run < 2; run++) {
      const acked: string[] = [];
      const summary = await runSimulation({ restore: false, url: gw.mqttUrl, devices: 3, rate: 0, count: 150, qos: 1, prefix: 'twice', onAck: (r) => void acked.push(r.id) });
      expect(summary.acknowledged).toBe(150);
      runs.push(acked);
    }
    const client = await connect(gw.mqttUrl, { clientId: 'twice-marker' });
    defer(() => client.endAsync(true));
    await marker(client, influx, gw.db);

    const again = runs[1]!.filter((id) => new Set(runs[0]).has(id));
    expect.soft(again.length, 'ids of the second run that the first run used already').toBe(0);
    expect(await countReadings(influx, gw.db), 'readings stored (the marker included) after 2 × 150 acknowledged').toBe(301);
  });
});
