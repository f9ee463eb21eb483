/**
 * HTTP under abuse. An adversarial run opened 20,000 sockets to HTTP_PORT, each sending one
 * header line every 5 s (slowloris): Node's HTTP server had no connection limit and its default
 * 60 s headers timeout (checked every 30 s), so the gateway's file descriptors stayed full for
 * 60–90 s: /healthz unreachable, MQTT publishes lost, the spool failing with EMFILE, and nothing
 * counted. Wanted: a total cap (HTTP_MAX_CONNECTIONS) and a per-address cap
 * (HTTP_MAX_CONNECTIONS_PER_ADDRESS), each refusal counted in
 * gateway_http_refusals_total{reason}; headers must arrive within HTTP_HEADERS_TIMEOUT_MS; the
 * live page's event stream (a long response, not slow headers) is not cut.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { metricAs } from '../helpers/abuse.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { rawConnect, type RawConnection } from '../helpers/raw-mqtt.js';
import { openSse, type SseStream } from '../helpers/sse.js';
import { useTempDirs } from '../helpers/temp-dirs.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway | undefined;
const tempDir = useTempDirs('gw-abuse-http-');
const held: RawConnection[] = [];
const streams: SseStream[] = [];
const timers: NodeJS.Timeout[] = [];
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const c of held.splice(0)) c.socket.destroy();
  for (const s of streams.splice(0)) s.close();
  await gw?.stop();
  gw = undefined;
});

/** GET on a fresh connection (no keep-alive pool holding a place): the status, or the socket error. */
function get(port: number, path: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

/** Asks /healthz until it answers 200; how many tries were refused before (the gateway sees a freed place a moment after the client closed it). */
async function healthzOnceFree(port: number): Promise<{ refused: number }> {
  let refused = 0;
  await waitFor(async () => {
    const status = await get(port, '/healthz');
    if (status !== 200) refused++;
    return status === 200;
  }, '/healthz to answer once a place is free');
  return { refused };
}

const refusals = (reason: string): Promise<number> => metricAs(gw!.httpUrl, 'gateway_http_refusals_total', { reason });

async function holdSockets(port: number, n: number): Promise<RawConnection[]> {
  const opened: RawConnection[] = [];
  for (let i = 0; i < n; i++) opened.push(await rawConnect(port));
  held.push(...opened);
  return opened;
}

describe('HTTP connections', () => {
  it('that send their headers slowly are closed at HTTP_HEADERS_TIMEOUT_MS and counted; the live event stream stays', async () => {
    gw = await startGateway({ dataDir: await tempDir(), env: { HTTP_HEADERS_TIMEOUT_MS: '1000', LIVE_PUSH_MS: '20' } });
    const port = gw.running.ports.http;
    const live = await openSse(`${gw.httpUrl}/live/events`);
    streams.push(live);
    await live.next((m) => m.event === 'snapshot', 'the snapshot');

    // One header line every 200 ms, never the blank line that ends them; and one that sends nothing.
    const [slow, silent] = await holdSockets(port, 2);
    await slow!.write(Buffer.from('GET /healthz HTTP/1.1\r\nHost: gateway\r\n'));
    timers.push(setInterval(() => void slow!.write(Buffer.from(`X-Slow-${Date.now()}: 1\r\n`)), 200));

    // Node's default: 60 s, checked every 30 s. Generous against 1 s.
    await Promise.race([Promise.all([slow!.closed, silent!.closed]), new Promise((_, reject) => setTimeout(() => reject(new Error('slow sockets still open after 10 s')), 10_000))]);
    expect(await refusals('headers_timeout')).toBe(2);

    // The event stream, open longer than the headers timeout, still delivers.
    const device = await connect(gw.mqttUrl, { clientId: 'h-t1' });
    await device.publishAsync('sensors/hq/f1/h-t1/temperature', JSON.stringify({ value: 21.25, id: 'h-1' }), { qos: 1 });
    await live.next((m) => m.event === 'update' && m.data.includes('21.25'), 'the reading on the live stream');
    await device.endAsync();
  });

  it('beyond HTTP_MAX_CONNECTIONS are refused at once and counted; /healthz answers again once places free', async () => {
    const MAX = 5;
    gw = await startGateway({ dataDir: await tempDir(), env: { HTTP_MAX_CONNECTIONS: String(MAX), HTTP_MAX_CONNECTIONS_PER_ADDRESS: '0' } });
    const port = gw.running.ports.http;
    const idle = await holdSockets(port, MAX);
    const over = await holdSockets(port, 3);
    await Promise.all(over.map((c) => c.closed));
    // A normal client is refused too while the places are taken: that is the cap.
    expect(await get(port, '/healthz')).not.toBe(200);

    for (const c of idle) c.socket.destroy();
    const tries = await healthzOnceFree(port);
    expect(await refusals('max_connections')).toBe(over.length + 1 + tries.refused);
    expect(gw.logs.some((l) => l['reason'] === 'max_connections' && l.level === 40)).toBe(true);
  });

  it('beyond HTTP_MAX_CONNECTIONS_PER_ADDRESS from one address are refused and counted; a client under it is served', async () => {
    const PER_ADDRESS = 4;
    gw = await startGateway({ dataDir: await tempDir(), env: { HTTP_MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS) } });
    const port = gw.running.ports.http;
    const idle = await holdSockets(port, PER_ADDRESS - 1);
    // The last place: served.
    expect(await get(port, '/healthz')).toBe(200);

    const all = [...idle, ...(await holdSockets(port, 1))];
    const over = await holdSockets(port, 3);
    await Promise.all(over.map((c) => c.closed));
    expect(all.every((c) => !c.socket.destroyed)).toBe(true);
    all[0]!.socket.destroy();
    const tries = await healthzOnceFree(port);
    // The three, and each /healthz tried before the gateway saw the place freed.
    expect(await refusals('connections_per_address')).toBe(3 + tries.refused);
    expect(gw.logs.some((l) => l['reason'] === 'connections_per_address' && l.level === 40)).toBe(true);
  });
});
