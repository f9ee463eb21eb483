/**
 * Issue 14, situation 2: two readings of one series with the same `ts` and different ids (a
 * device with a one-second clock does this all the time) are two readings: both acknowledged,
 * so both must be in InfluxDB. The first keeps the exact `ts` (a query `WHERE time = <ts>ms`
 * finds it); the second may sit a sub-millisecond offset later.
 *
 * Written to fail on today's code: readingPoint() writes both at `<ts>` ms, the same
 * measurement + tags + time, so InfluxDB keeps only the last.
 */
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../../helpers/cleanup.js';
import { startGateway } from '../../helpers/gateway.js';
import { rows } from '../../helpers/influx.js';
import { marker } from '../../helpers/kept.js';
import { connect } from '../../helpers/mqtt.js';

const { defer } = useCleanup();

describe('issue 14 (2): equal ts, different ids', () => {
  it('keeps both readings, the first at exactly its ts', async () => {
    const gw = await startGateway();
    defer(() => gw.stop());
    const device = await connect(gw.mqttUrl, { clientId: 'sec-clock' });
    defer(() => device.endAsync(true));
    // A one-second clock: both readings carry the same whole second.
    const ts = Math.floor(Date.now() / 1000) * 1000 - 5000;
    const topic = 'sensors/eq/z1/sec-clock/temperature';
    await device.publishAsync(topic, JSON.stringify({ value: 20, ts, id: 'eq-a' }), { qos: 1 });
    await device.publishAsync(topic, JSON.stringify({ value: 35, ts, id: 'eq-b' }), { qos: 1 });
    await marker(device, gw.influxUrl, gw.db);

    const stored = await rows(gw.influxUrl, gw.db, `SELECT value, event_id FROM temperature WHERE device = 'sec-clock'`);
    expect.soft(stored.map((r) => [r['event_id'], r['value']]).sort(), 'points of sec-clock').toEqual([
      ['eq-a', 20],
      ['eq-b', 35],
    ]);
    const exact = await rows(gw.influxUrl, gw.db, `SELECT value, event_id FROM temperature WHERE device = 'sec-clock' AND time = ${ts}ms`);
    expect(exact.map((r) => r['event_id']), 'the point at exactly ts').toEqual(['eq-a']);
  });
});
