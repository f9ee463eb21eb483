/**
 * Readings of one device at one millisecond, more of them than the series' memory holds (64): a
 * device uploading a buffer stamped by a coarse clock, or a socket read of a hundred readings
 * without `ts` from a device publishing flat out. Found from outside (issue 17's own measurement,
 * 10 `mosquitto_pub -l` publishers): 4–7 of 200,000 readings were missing from InfluxDB while the
 * gateway had counted them written. Ids 80 apart derive the same sub-millisecond offset, and once
 * the memory had forgotten the first, the second took its point and InfluxDB kept one of the two.
 */
import { expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { startGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

const { defer } = useCleanup();

it('stores every acknowledged reading of a burst at one millisecond, however many', async () => {
  const gw = await startGateway();
  defer(() => gw.stop());
  const device = await connect(gw.mqttUrl, { clientId: 'burst-5' });
  defer(() => device.endAsync(true));
  const ts = Date.now() - 1000;
  const ids = Array.from({ length: 600 }, (_, i) => `g15w-5-${9900 + i}`);
  // Acknowledged (QoS 1, the gateway acknowledges once durable): every one must be kept.
  await Promise.all(ids.map((id, i) => device.publishAsync('sensors/hq/burst/burst-5/temperature', JSON.stringify({ value: 21 + (i % 20) / 10, ts, id }), { qos: 1 })));
  // Everything the gateway took has been written to InfluxDB (its own counters say so) …
  await waitFor(async () => {
    const m = await scrape(gw.httpUrl);
    return m.value('gateway_readings_total', { kind: 'temperature' }) === ids.length && m.value('gateway_spool_events') === 0 && (m.value('gateway_points_written_total') ?? 0) >= ids.length;
  }, 'the burst taken and written');
  // … and InfluxDB holds every one of them as its own point.
  const stored = await rows(gw.influxUrl, gw.db, `SELECT event_id FROM temperature WHERE device = 'burst-5'`);
  expect(new Set(stored.map((r) => r['event_id'])).size).toBe(ids.length);
  expect(stored).toHaveLength(ids.length);
});
