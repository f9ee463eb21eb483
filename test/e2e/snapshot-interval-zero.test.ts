/**
 * MQTT_SNAPSHOT_INTERVAL_MS=0 keeps the broker's state in memory only (README: lost at every
 * restart). The snapshot an earlier run left in DATA_DIR was neither read nor removed, so the day
 * snapshots were turned on again it came back whole: a retained status deleted meanwhile was
 * retained again (an operator's report). It is moved aside instead.
 *
 * Real gateways one after the other on one DATA_DIR, real mqtt clients.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

let dataDir: string;
const db = uniqueDb();
beforeAll(async () => void (dataDir = await mkdtemp(join(tmpdir(), 'gw-test-snapshot-zero-'))));
afterAll(async () => rm(dataDir, { recursive: true, force: true }));

const retainedBytes = async (httpUrl: string): Promise<number> => (await scrape(httpUrl)).value('gateway_retained_bytes') ?? Number.NaN;

describe('MQTT_SNAPSHOT_INTERVAL_MS=0 between two runs that keep snapshots', () => {
  it('does not bring back, once snapshots are on again, what the earlier snapshot held', async () => {
    const first = await startGateway({ dataDir, db });
    const device = await connect(first.mqttUrl, { clientId: 'keep1' });
    await device.publishAsync('devices/keep1/status', 'online', { qos: 1, retain: true });
    await device.endAsync();
    await waitFor(async () => (await retainedBytes(first.httpUrl)) > 0, 'the retained status counted');
    await first.stop();
    expect(await readdir(dataDir)).toContain('mqtt-state.bin');

    const unkept = await startGateway({ dataDir, db, env: { MQTT_SNAPSHOT_INTERVAL_MS: '0' } });
    expect(await retainedBytes(unkept.httpUrl)).toBe(0);
    await unkept.stop();
    const files = await readdir(dataDir);
    expect(files).not.toContain('mqtt-state.bin');
    expect(files.some((f) => f.startsWith('mqtt-state.bin.unused-'))).toBe(true);
    expect(unkept.logs.some((l) => String(l.msg).startsWith('MQTT_SNAPSHOT_INTERVAL_MS=0: the broker state is kept in memory only'))).toBe(true);

    const again = await startGateway({ dataDir, db });
    try {
      expect(await retainedBytes(again.httpUrl)).toBe(0);
    } finally {
      await again.stop();
    }
  });
});
