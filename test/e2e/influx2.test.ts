/**
 * The 2.x write path (INFLUX_TOKEN/INFLUX_ORG/INFLUX_BUCKET) through @influxdata/influxdb-client.
 * InfluxDB 2.x cannot be installed on these machines (Debian ships 1.6, whose /api/v2 answers
 * 404), so a small shim stands in for a 2.x server's write endpoint: it checks what the client
 * sends (path, org, bucket, precision, token) and forwards the body to the real 1.x /write,
 * where the points are counted.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { count, uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

const influx1 = inject('influxUrl');
const bucket = uniqueDb('b2');
const seen: { path: string; auth: string | undefined }[] = [];
let shim: Server;
let shimUrl: string;
let gw: TestGateway;

beforeAll(async () => {
  await fetch(`${influx1}/query`, { method: 'POST', body: new URLSearchParams({ q: `CREATE DATABASE "${bucket}"` }) });
  shim = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://shim');
    seen.push({ path: url.pathname + url.search, auth: req.headers.authorization });
    if (url.pathname === '/ping') return void res.writeHead(204).end();
    if (req.headers.authorization !== 'Token secret-token') return void res.writeHead(401).end('{"code":"unauthorized"}');
    if (url.pathname !== '/api/v2/write' || url.searchParams.get('org') !== 'acme' || url.searchParams.get('precision') !== 'ns') {
      return void res.writeHead(400).end('{"code":"invalid","message":"unexpected request"}');
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void fetch(`${influx1}/write?db=${url.searchParams.get('bucket')}&precision=${url.searchParams.get('precision')}`, { method: 'POST', body: Buffer.concat(chunks) }).then(async (r) => {
        res.writeHead(r.status).end(await r.text());
      });
    });
  });
  await new Promise<void>((r) => shim.listen(0, '127.0.0.1', r));
  shimUrl = `http://127.0.0.1:${(shim.address() as AddressInfo).port}`;
  gw = await startGateway({ influxUrl: shimUrl, env: { INFLUX_TOKEN: 'secret-token', INFLUX_ORG: 'acme', INFLUX_BUCKET: bucket } });
});
afterAll(async () => {
  await gw?.stop();
  await new Promise((r) => shim?.close(r));
});

describe('InfluxDB 2.x API', () => {
  it('writes readings and commands to the bucket with the token, org and ns precision (point times are ns: a sub-ms offset keeps two events of one series apart)', async () => {
    expect(gw.running.influx).toBe(`InfluxDB 2.x at ${shimUrl}, org acme, bucket ${bucket}`);
    const device = await connect(gw.mqttUrl);
    await device.publishAsync('sensors/v2/z1/t1/temperature', JSON.stringify({ value: 31, id: 'v2-1' }), { qos: 1 });
    await device.endAsync();
    await waitFor(async () => (await count(influx1, bucket, 'temperature')) === 1 && (await count(influx1, bucket, 'commands')) === 1, 'the reading and its command in the bucket');
    const writes = seen.filter((s) => s.path.startsWith('/api/v2/write'));
    expect(writes.length).toBeGreaterThan(0);
    expect(writes[0]).toEqual({ path: `/api/v2/write?org=acme&bucket=${bucket}&precision=ns`, auth: 'Token secret-token' });
  });
});
