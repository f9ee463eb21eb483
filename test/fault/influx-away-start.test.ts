/**
 * A gateway started while InfluxDB cannot be read: refused (nothing on its port), hung (a real
 * influxd under SIGSTOP), or one that answers the start's ping and then hangs. In each the rules
 * neither wait for the spool to drain nor wait out a query: they start without their history
 * (GW_ERR_HISTORY, /readyz degraded), the broker listens and takes readings into the spool.
 *
 * REBUILD_WAIT_MS is ten minutes here, so a start that waited for the drain could not finish
 * within the test's timeout; what tells the new path from the old one is the log's and the
 * rebuild's reason ("does not answer"), not how long the start took.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, startInfluxd } from '../../gateway/storage/influxd.js';
import { useCleanup } from '../helpers/cleanup.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';

const { defer } = useCleanup();

const SETTINGS = { REBUILD_WAIT_MS: '600000', INFLUX_TIMEOUT_MS: '2000', STATS_INTERVAL_MS: '0' };

/** Readings a first gateway, with InfluxDB refused, could only keep in its spool: the next start has a spool to drain. */
async function spoolWithReadings(): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-away-start-'));
  defer(() => rm(dataDir, { recursive: true, force: true }));
  const first = await startGateway({ dataDir, influxUrl: `http://127.0.0.1:${await freePort()}`, env: SETTINGS });
  const device = await connect(first.mqttUrl, { clientId: 'away-t1' });
  for (let i = 0; i < 3; i++) await device.publishAsync('sensors/hq/f1/away-t1/temperature', JSON.stringify({ value: 20 + i }), { qos: 1 });
  await device.endAsync();
  await first.stop();
  return dataDir;
}

/** A server that answers the first `GET /ping` with 204 (as InfluxDB would) and then never answers anything. */
async function answersPingThenHangs(): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  let pinged = false;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (data) => {
      const line = data.toString('latin1').split('\r\n')[0] ?? '';
      requests.push(line);
      if (!pinged && line.startsWith('GET /ping')) {
        pinged = true;
        socket.end('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  defer(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { url: `http://127.0.0.1:${address.port}`, requests };
}

/** What a user sees: the broker takes a device's reading, /readyz says the rules started without history, and the log says why. */
async function startedWithoutHistory(gw: TestGateway): Promise<void> {
  const device = await connect(gw.mqttUrl, { clientId: 'away-t2' });
  await device.publishAsync('sensors/hq/f1/away-t2/temperature', JSON.stringify({ value: 21 }), { qos: 1 });
  await device.endAsync();
  const ready = (await (await fetch(`${gw.httpUrl}/readyz`)).json()) as { status: string; checks: { influxdb: { ok: boolean }; rules: { ok: boolean; detail?: string } } };
  // Not ready while InfluxDB is away; the rules' check says they run without their history (degraded once InfluxDB is back).
  expect(ready.status).toBe('not ready');
  expect(ready.checks.influxdb.ok).toBe(false);
  expect(ready.checks.rules).toMatchObject({ ok: false, detail: expect.stringMatching(/started without history \(GW_ERR_HISTORY\): .*does not answer/) });
  const said = gw.logs.find((l) => l['code'] === 'GW_ERR_HISTORY' && l.level === 40 && l.msg.includes('could not read their history'));
  expect(said?.['err']).toMatch(/^GW_ERR_INFLUX_UNREACHABLE: .*does not answer/);
  // Not the other warning: the rules did not wait for the drain and then read anyway.
  expect(gw.logs.some((l) => l['code'] === 'GW_ERR_HISTORY' && l.msg.includes('had not drained'))).toBe(false);
  expect(gw.gateway.rules.rebuildResult).toMatchObject({ ok: false, counts: {} });
}

describe('a start while InfluxDB cannot be read', () => {
  it('with nothing on InfluxDB port: starts without history, without waiting for the spool', { timeout: 90_000 }, async () => {
    const dataDir = await spoolWithReadings();
    const gw = await startGateway({ dataDir, influxUrl: `http://127.0.0.1:${await freePort()}`, env: SETTINGS });
    defer(() => gw.stop());
    await startedWithoutHistory(gw);
    expect(gw.gateway.rules.rebuildResult?.caughtUp).toBe(false);
  });

  it('with InfluxDB hung (SIGSTOP): starts without history and without waiting out a query', { timeout: 90_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-away-influx-'));
    defer(() => rm(dir, { recursive: true, force: true }));
    const influx = await startInfluxd({ dataDir: dir });
    defer(() => influx.stop());
    defer(async () => void influx.child.kill('SIGCONT'));
    const dataDir = await spoolWithReadings();
    influx.child.kill('SIGSTOP');
    const gw = await startGateway({ dataDir, influxUrl: influx.url, env: SETTINGS });
    defer(() => gw.stop());
    await startedWithoutHistory(gw);
    expect(gw.gateway.rules.rebuildResult?.caughtUp).toBe(false);
  });

  it('with InfluxDB answering the first ping and then hanging: gives up once the sink finds it does not answer', { timeout: 90_000 }, async () => {
    const hung = await answersPingThenHangs();
    const dataDir = await spoolWithReadings();
    const gw = await startGateway({ dataDir, influxUrl: hung.url, env: SETTINGS });
    defer(() => gw.stop());
    await startedWithoutHistory(gw);
    expect(gw.gateway.rules.rebuildResult?.caughtUp).toBe(false);
    // It was tried: the start's ping was answered, and the spool's readings were sent.
    expect(hung.requests[0]).toMatch(/^GET \/ping/);
    expect(hung.requests.some((r) => r.startsWith('POST /write'))).toBe(true);
  });

  it('with InfluxDB answering the first ping and then hanging, nothing to drain: abandons the query in flight once the sink finds it does not answer', { timeout: 90_000 }, async () => {
    const hung = await answersPingThenHangs();
    const gw = await startGateway({ influxUrl: hung.url, env: SETTINGS });
    defer(() => gw.stop());
    await startedWithoutHistory(gw);
    expect(hung.requests.some((r) => r.startsWith('POST /query'))).toBe(true);
    expect(gw.gateway.rules.rebuildResult?.problem).toContain('stopped answering');
  });
});
