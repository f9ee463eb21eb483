/**
 * InfluxDB stops (SIGSTOP: hung; SIGKILL: gone) while devices send at QoS 1. Readings keep
 * being acknowledged (they are in the spool), and once InfluxDB is back every acknowledged
 * reading is stored exactly once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startInfluxd, type InfluxdProcess } from '../../gateway/storage/influxd.js';
import { runSimulation } from '../../simulators/simulator.js';
import { allAcknowledgedStored } from '../helpers/fleet.js';
import { startGateway } from '../helpers/gateway.js';
import { useCleanup } from '../helpers/cleanup.js';
import { waitFor } from '../helpers/wait.js';

const { defer } = useCleanup();

async function ownInflux(): Promise<InfluxdProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-outage-influx-'));
  const influx = await startInfluxd({ dataDir: dir });
  defer(() => rm(dir, { recursive: true, force: true }));
  defer(() => influx.stop());
  return influx;
}

async function metric(httpUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').at(-1)) : Number.NaN;
}

describe('InfluxDB outage under QoS 1 load', () => {
  it('keeps every acknowledged reading through a 30 s SIGSTOP at about 2,000 readings/s', { timeout: 180_000 }, async () => {
    const influx = await ownInflux();
    const gw = await startGateway({ influxUrl: influx.url, env: { INFLUX_TIMEOUT_MS: '2000' } });
    defer(() => gw.stop());
    const acked = new Set<string>();
    const load = runSimulation({ restore: false, url: gw.mqttUrl, devices: 50, rate: 2000, duration: 40, qos: 1, prefix: 'stop', onAck: (r) => acked.add(r.id), drainTimeoutMs: 60_000 });
    await sleep(5000);
    influx.child.kill('SIGSTOP');
    const stoppedAt = acked.size;
    // While InfluxDB hangs: still acknowledging, the spool grows, /readyz says why.
    await waitFor(async () => (await fetch(`${gw.httpUrl}/readyz`)).status === 503, '/readyz to report InfluxDB unreachable', 15_000);
    const ready = (await (await fetch(`${gw.httpUrl}/readyz`)).json()) as { checks: { influxdb: { ok: boolean; detail: string } } };
    expect(ready.checks.influxdb).toEqual({ ok: false, detail: 'unreachable: events wait in the spool' });
    await sleep(25_000);
    // Still acknowledging while InfluxDB hangs (the spool keeps them): bounds far below the nominal rate.
    expect(acked.size - stoppedAt).toBeGreaterThan(5_000);
    expect(await metric(gw.httpUrl, 'gateway_spool_events')).toBeGreaterThan(5_000);
    expect(await metric(gw.httpUrl, 'gateway_spool_bytes')).toBeGreaterThan(1_000_000);
    expect(await metric(gw.httpUrl, 'gateway_spool_oldest_age_seconds')).toBeGreaterThan(20);
    expect(await metric(gw.httpUrl, 'gateway_write_retries_total')).toBeGreaterThan(0);
    influx.child.kill('SIGCONT');

    const summary = await load;
    expect(summary.failed).toBe(0);
    expect(summary.acknowledged).toBe(summary.sent);
    expect(summary.sent).toBeGreaterThan(20_000);
    const check = await allAcknowledgedStored(influx.url, gw.db, acked, 60_000);
    expect(check.missing).toEqual([]);
    expect(check.duplicated).toEqual([]);
    expect(check.stored).toBe(acked.size);
    await waitFor(async () => (await metric(gw.httpUrl, 'gateway_spool_events')) === 0, 'the spool to drain');
    expect((await fetch(`${gw.httpUrl}/readyz`)).status).toBe(200);
  });

  it('keeps every acknowledged reading when InfluxDB is killed and started again on its data', { timeout: 120_000 }, async () => {
    const influx = await ownInflux();
    const gw = await startGateway({ influxUrl: influx.url });
    defer(() => gw.stop());
    const acked = new Set<string>();
    // Without ts the gateway stamps each reading once, on arrival: a retry or replay that stamped
    // again (or wrote a batch from memory and from disk) would show as an id stored twice.
    const load = runSimulation({ restore: false, url: gw.mqttUrl, devices: 20, rate: 1000, duration: 12, qos: 1, prefix: 'kill', withTs: false, onAck: (r) => acked.add(r.id) });
    await sleep(3000);
    influx.child.kill('SIGKILL');
    await influx.exited;
    await sleep(4000);
    const again = await startInfluxd({ dataDir: influx.dataDir, port: influx.port });
    defer(() => again.stop());
    const summary = await load;
    expect(summary.acknowledged).toBe(summary.sent);
    const check = await allAcknowledgedStored(again.url, gw.db, acked, 60_000);
    expect(check.missing).toEqual([]);
    expect(check.duplicated).toEqual([]);
  });
});
