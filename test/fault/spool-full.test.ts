/**
 * A full spool (InfluxDB away long enough to fill SPOOL_MAX_BYTES): QoS 1 publishers stop being
 * acknowledged rather than anything acknowledged being dropped, QoS 0 readings are counted as
 * dropped, the gateway stays up with bounded memory, and everything acknowledged is stored once
 * InfluxDB comes.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { freePort, startInfluxd } from '../../gateway/storage/influxd.js';
import { runSimulation } from '../../simulators/simulator.js';
import { checkExactlyOnce } from '../helpers/fleet.js';
import { countReadings, uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { spawnGateway } from '../helpers/process.js';
import { useCleanup } from '../helpers/cleanup.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

async function metrics(httpUrl: string): Promise<string> {
  return (await fetch(`${httpUrl}/metrics`)).text();
}

const SPOOL_MAX_BYTES = 400_000;

describe('a full spool', () => {
  it('stops acknowledging QoS 1, drops and counts QoS 0, stays up with bounded memory, and loses nothing acknowledged', { timeout: 180_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-full-'));
    defer(() => rm(dataDir, { recursive: true, force: true }));
    const influxPort = await freePort();
    const influxUrl = `http://127.0.0.1:${influxPort}`;
    const db = uniqueDb();
    const gw = track(
      spawnGateway({
        DATA_DIR: dataDir,
        INFLUX_URL: influxUrl,
        INFLUX_DB: db,
        SPOOL_MAX_BYTES: String(SPOOL_MAX_BYTES),
        RULES_DIR: 'rules',
        MQTT_PORT: '0',
        MQTT_WS_PORT: '0',
        HTTP_PORT: '0',
      }),
    );
    const ports = await gw.started();
    const httpUrl = `http://127.0.0.1:${ports.http}`;
    const baseline = await rssBytes(gw.child.pid!);

    const acked = new Set<string>();
    const load = runSimulation({
      // Exactly the readings counted: no closing readings for the doors left open.
      restore: false,
      url: `mqtt://127.0.0.1:${ports.mqtt}`,
      devices: 20,
      count: 150_000,
      rate: 0,
      qos: 1,
      prefix: 'full',
      maxInflight: 150_000,
      onAck: (r) => acked.add(r.id),
      drainTimeoutMs: 120_000,
    });

    // Acknowledgements stop once the spool is full, with readings still unacknowledged.
    await waitFor(async () => Number(/^gateway_spool_bytes (\d+)/m.exec(await metrics(httpUrl))?.[1]) >= SPOOL_MAX_BYTES * 0.9, 'the spool to fill', 60_000, 200);
    let last = -1;
    await waitFor(
      async () => {
        const now = acked.size;
        const stalled = now === last && now > 0;
        last = now;
        return stalled;
      },
      'acknowledgements to stop',
      60_000,
      1500,
    );
    expect(acked.size).toBeLessThan(150_000);
    const text = await metrics(httpUrl);
    const spoolBytes = Number(/^gateway_spool_bytes (\d+)/m.exec(text)?.[1]);
    expect(spoolBytes).toBeGreaterThan(SPOOL_MAX_BYTES * 0.9);
    expect(spoolBytes).toBeLessThan(SPOOL_MAX_BYTES + 200_000);
    expect((await fetch(`${httpUrl}/healthz`)).status).toBe(200);
    const ready = (await (await fetch(`${httpUrl}/readyz`)).json()) as { checks: { spool: { ok: boolean } } };
    expect(ready.checks.spool.ok).toBe(false);

    // QoS 0 readings that cannot be kept are dropped and counted.
    const qos0 = await connect(`mqtt://127.0.0.1:${ports.mqtt}`, { clientId: 'qos0-device' });
    for (let i = 0; i < 50; i++) await qos0.publishAsync('sensors/full/z9/q0/humidity', JSON.stringify({ value: 40, id: `q0-${i}` }), { qos: 0 });
    await qos0.endAsync();
    await waitFor(async () => /gateway_dropped_total\{reason="spool_full"\} 50/.test(await metrics(httpUrl)), '50 QoS 0 drops counted');

    // Memory stays bounded: the blocked publishers' backlog waits in their sockets, not in the gateway.
    await sleep(2000);
    expect(await rssBytes(gw.child.pid!)).toBeLessThan(baseline + 80 * 1024 * 1024);

    // InfluxDB arrives: the spool drains and the publishers are acknowledged again.
    const influxDir = await mkdtemp(join(tmpdir(), 'gw-full-influx-'));
    defer(() => rm(influxDir, { recursive: true, force: true }));
    const influx = await startInfluxd({ dataDir: influxDir, port: influxPort });
    defer(() => influx.stop());
    const summary = await load;
    expect(summary.failed).toBe(0);
    expect(summary.acknowledged).toBe(150_000);
    await waitFor(async () => (await countReadings(influxUrl, db)) >= 150_000, 'every reading in InfluxDB', 90_000, 1000);
    const check = await checkExactlyOnce(influxUrl, db, acked);
    expect(check.missing).toEqual([]);
    expect(check.duplicated).toEqual([]);
    expect(check.stored).toBe(150_000);
    expect(gw.child.exitCode).toBeNull();
  });
});

