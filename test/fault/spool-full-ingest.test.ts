/**
 * With the spool full, a QoS 1 reading is ruled at once (only its acknowledgement waits), and a
 * resend of a reading that is still waiting is not acknowledged ahead of it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, startInfluxd } from '../../gateway/storage/influxd.js';
import { useCleanup } from '../helpers/cleanup.js';
import { startGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const { defer } = useCleanup();

async function fullGateway() {
  const influxPort = await freePort();
  const influxUrl = `http://127.0.0.1:${influxPort}`;
  const gw = await startGateway({ influxUrl, env: { SPOOL_MAX_BYTES: '20000', INFLUX_TIMEOUT_MS: '500' } });
  defer(() => gw.stop());
  const filler = await connect(gw.mqttUrl, { clientId: 'filler' });
  // About 150 bytes a reading: 400 overfill a 20,000-byte spool (the rest are dropped, QoS 0).
  for (let i = 0; i < 400; i++) await filler.publishAsync('sensors/fill/z1/h1/humidity', JSON.stringify({ value: 40, id: `f-${i}` }), { qos: 0 });
  await waitFor(() => gw.gateway.spool.isFull(), 'the spool to fill');
  await filler.endAsync();
  return { gw, influxPort, influxUrl };
}

describe('a full spool', () => {
  it('still rules a QoS 1 smoke reading at once: the alert goes out while its acknowledgement waits', async () => {
    const { gw } = await fullGateway();
    const watcher = await connect(gw.mqttUrl);
    const alerts = await collect(watcher, 'alerts/+/critical');
    const device = await connect(gw.mqttUrl, { clientId: 'smk-1' });
    let acked = false;
    device.publish('sensors/plant/z1/smk-1/smoke', JSON.stringify({ value: true, id: 'smoke-1' }), { qos: 1 }, () => (acked = true));
    const alert = await alerts.next();
    expect(alert.json()).toMatchObject({ correlationid: 'smoke-1', data: { severity: 'critical' } });
    expect(acked).toBe(false);
    device.end(true);
    await watcher.endAsync();
  });

  it('does not acknowledge a resend ahead of the original it repeats, and stores it once', async () => {
    const { gw, influxPort, influxUrl } = await fullGateway();
    const first = await connect(gw.mqttUrl, { clientId: 'dev-a' });
    const timeline: string[] = [];
    first.publish('sensors/resend/z1/t1/temperature', JSON.stringify({ value: 21, id: 'r-1' }), { qos: 1 }, (err) => !err && timeline.push('original acknowledged'));
    // The device gives up on that connection and resends on a new one.
    const again = await connect(gw.mqttUrl, { clientId: 'dev-a2' });
    const resent = again.publishAsync('sensors/resend/z1/t1/temperature', JSON.stringify({ value: 21, id: 'r-1' }), { qos: 1 }).then(() => timeline.push('resend acknowledged'));
    await waitFor(async () => (await gw.gateway.metrics.duplicates.get()).values[0]?.value === 1, 'the resend seen as a duplicate');
    // InfluxDB arrives, the spool drains, the original is kept, and only then the resend is
    // acknowledged: an acknowledgement given while the original still waits would be recorded
    // ahead of InfluxDB starting, without which the spool cannot drain.
    const dir = await mkdtemp(join(tmpdir(), 'gw-resend-influx-'));
    defer(() => rm(dir, { recursive: true, force: true }));
    timeline.push('InfluxDB starting');
    const influx = await startInfluxd({ dataDir: dir, port: influxPort });
    defer(() => influx.stop());
    await resent;
    await waitFor(() => timeline.length === 3, 'the original acknowledged too');
    // Neither is acknowledged before InfluxDB is there to keep the original.
    expect(timeline[0]).toBe('InfluxDB starting');
    expect(timeline.slice(1).sort()).toEqual(['original acknowledged', 'resend acknowledged']);
    await waitFor(async () => (await rows(influxUrl, gw.db, `SELECT event_id FROM temperature WHERE event_id = 'r-1'`)).length === 1, 'r-1 stored', 20_000);
    expect(await rows(influxUrl, gw.db, `SELECT event_id FROM temperature WHERE event_id = 'r-1'`)).toHaveLength(1);
    first.end(true);
    await again.endAsync();
  });
});

describe('a hostile payload', () => {
  it('a 30,000-level nested value is dead-lettered with a reason and logs no error', async () => {
    const gw = await startGateway();
    defer(() => gw.stop());
    const device = await connect(gw.mqttUrl, { clientId: 'nest' });
    const deep = `{"value":${'['.repeat(30000)}${']'.repeat(30000)}}`;
    const letters = await collect(device, 'gateway/deadletter');
    await device.publishAsync('sensors/hq/f1/t1/temperature', deep, { qos: 1 });
    const letter = await letters.next();
    expect(letter.json()).toMatchObject({ reason: 'invalid_payload', detail: 'value must be number for temperature (°C), got an array of 1' });
    expect(gw.logs.filter((l) => l.level >= 50)).toEqual([]);
    await device.endAsync();
  });
});
