/**
 * What the HTTP API answers to requests it cannot serve, through a real gateway (outside test):
 * an acknowledgement whose body was not a JSON object acknowledged the alarm (200); a bad
 * percent-encoding in a path gave 500 and an error log; a redrive body over 16 KiB dropped the
 * connection; `until` before `since` redrove nothing with 200; wrong methods answered 200 on
 * /api/zones, /api/devices, /metrics, /healthz and /live/state; unknown paths said text/plain.
 * Each is now an answer with a JSON error: 400, 405 (with Allow), 404, 413 then close.
 */
import { request } from 'node:http';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let client: MqttClient;
let alarmId: string;

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly json: { readonly error?: string; readonly [k: string]: unknown } | undefined;
}

async function ask(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${gw.httpUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  expect(method === 'HEAD' || res.headers.get('content-type')?.startsWith('application/json') || res.status === 200, `${method} ${path}: ${res.status} ${res.headers.get('content-type')}`).toBe(true);
  return { status: res.status, headers: res.headers, json: res.headers.get('content-type')?.startsWith('application/json') && text ? (JSON.parse(text) as Answer['json']) : undefined };
}

const acknowledged = async (): Promise<boolean> => ((await (await fetch(`${gw.httpUrl}/api/alarms/${alarmId}`)).json()) as { alarm: { acknowledged: boolean } }).alarm.acknowledged;
const errorLogs = () => gw.logs.filter((l) => l.level >= 50);

beforeAll(async () => {
  gw = await startGateway({ env: { STATS_INTERVAL_MS: '0' } });
  client = await connect(gw.mqttUrl, { clientId: 'http-requests' });
  await client.publishAsync('sensors/lab/k1/smk-1/smoke', JSON.stringify({ value: true }), { qos: 1 });
  alarmId = await waitFor(async () => ((await (await fetch(`${gw.httpUrl}/api/alarms`)).json()) as { alarms: { id: string }[] }).alarms[0]?.id, 'the smoke alarm');
});
afterAll(async () => {
  await client?.endAsync();
  await gw?.stop();
});

describe('POST /api/alarms/<id>/ack', () => {
  it.each(['{bad', '[]', '"str"', '42', 'null', 'true', 'seen'])('refuses the body %s (400 with a JSON error) and leaves the alarm unacknowledged', async (body) => {
    const answer = await ask('POST', `/api/alarms/${alarmId}/ack`, body);
    expect(answer.status).toBe(400);
    expect(answer.json?.error).toMatch(/JSON object/);
    expect(await acknowledged()).toBe(false);
  });

  it('refuses a body over 64 KiB with 413 and a JSON error, then closes the connection', async () => {
    const answer = await rawPost(`/api/alarms/${alarmId}/ack`, `{"note":"${'x'.repeat(70 * 1024)}"}`, 'text/plain');
    expect(answer).toMatchObject({ status: 413, connection: 'close', closed: true });
    expect(JSON.parse(answer.body)).toEqual({ error: expect.stringMatching(/over 65536 bytes/) });
    expect(await acknowledged()).toBe(false);
  });

  it('still takes an empty body, as documented', async () => {
    const answer = await ask('POST', `/api/alarms/${alarmId}/ack`);
    expect(answer.status).toBe(200);
    expect(await acknowledged()).toBe(true);
  });
});

describe('a path with a bad percent-encoding', () => {
  it.each([
    ['GET', '/api/trace/%ZZ'],
    ['POST', '/api/alarms/%E0%A4%A/ack'],
    ['GET', '/api/alarms/%'],
    ['POST', '/api/zones/h%ZZ/f1/armed'],
  ])('%s %s answers 400 with a JSON error, logged at most at info', async (method, path) => {
    const before = errorLogs().length;
    const answer = await ask(method, path);
    expect(answer.status).toBe(400);
    expect(answer.json?.error).toMatch(/percent-encoding/);
    expect(errorLogs().slice(before)).toEqual([]);
  });
});

describe('GET /api/trace/<id>', () => {
  it.each(['ends-in\\', "it's", "x\\' OR '1'='1"])('looks up %s in InfluxDB as it is: 404 when nobody knows it, not 502', async (id) => {
    const answer = await ask('GET', `/api/trace/${encodeURIComponent(id)}`);
    expect(answer.status).toBe(404);
    expect(answer.json).toMatchObject({ id, found: false });
  });
});

describe('POST /api/deadletters/redrive', () => {
  const json = { 'content-type': 'application/json' };

  it('refuses a body over 16 KiB with 413 and a JSON error, then closes the connection', async () => {
    const body = JSON.stringify({ reason: 'unknown_kind', since: 0, device: 'x'.repeat(17 * 1024) });
    const answer = await rawPost('/api/deadletters/redrive', body, 'application/json');
    expect(answer).toMatchObject({ status: 413, connection: 'close', closed: true });
    expect(JSON.parse(answer.body)).toEqual({ error: expect.stringMatching(/over 16384 bytes/) });
    // Far larger (512 KiB, more than the socket buffers hold, still being sent when the answer goes out): 413 all the same.
    const huge = await rawPost('/api/deadletters/redrive', JSON.stringify({ reason: 'unknown_kind', since: 0, device: 'x'.repeat(512 * 1024) }), 'application/json');
    expect(huge).toMatchObject({ status: 413, closed: true });
  });

  it('refuses until before (or at) since with 400', async () => {
    for (const until of ['2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z']) {
      const answer = await ask('POST', '/api/deadletters/redrive', JSON.stringify({ reason: 'unknown_kind', since: '2026-02-01T00:00:00Z', until }), json);
      expect(answer.status).toBe(400);
      expect(answer.json?.error).toMatch(/until must be after since/);
    }
    expect((await ask('POST', '/api/deadletters/redrive', JSON.stringify({ reason: 'unknown_kind', since: '2026-01-01T00:00:00Z', until: '2026-02-01T00:00:00Z' }), json)).status).toBe(200);
  });
});

describe('methods a route does not serve', () => {
  it.each([
    ['DELETE', '/api/zones', 'GET, HEAD'],
    ['POST', '/api/zones', 'GET, HEAD'],
    ['PUT', '/api/devices', 'GET, HEAD'],
    ['POST', '/metrics', 'GET, HEAD'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['DELETE', '/readyz', 'GET, HEAD'],
    ['POST', '/live/state', 'GET, HEAD'],
    ['POST', '/live/events', 'GET, HEAD'],
    ['PUT', '/', 'GET, HEAD'],
    ['POST', '/api/alarms', 'GET, HEAD'],
    ['DELETE', '/api/actuators', 'GET, HEAD'],
    ['POST', '/api/alarms/some-alarm', 'GET, HEAD'],
    ['GET', '/api/alarms/some-alarm/ack', 'POST'],
    ['GET', '/api/zones/hq/f1/armed', 'POST'],
    ['POST', '/api/trace/some-id', 'GET, HEAD'],
    ['GET', '/api/deadletters/redrive', 'POST'],
    ['OPTIONS', '/api/zones', 'GET, HEAD'],
  ])('%s %s answers 405 with Allow: %s and a JSON error', async (method, path, allow) => {
    const answer = await ask(method, path);
    expect(answer.status).toBe(405);
    expect(answer.headers.get('allow')).toBe(allow);
    expect(answer.json?.error).toBe(`${method} is not served on ${path}: use ${allow}`);
  });

  it('serves HEAD where it serves GET', async () => {
    for (const path of ['/api/zones', '/healthz', '/metrics', '/live/state', `/api/alarms/${alarmId}`]) expect((await ask('HEAD', path)).status, path).toBe(200);
  });

  it('answers an unknown path with 404 and a JSON error', async () => {
    const answer = await ask('GET', '/no-such-path');
    expect(answer.status).toBe(404);
    expect(answer.json?.error).toMatch(/not found/);
  });
});

/** A POST over node:http that reads the answer whole, and whether the server then closed the connection. */
function rawPost(path: string, body: string, type: string): Promise<{ status: number; connection: string | undefined; body: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(`${gw.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': type, 'content-length': Buffer.byteLength(body) }, agent: false }, (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => {
        const socket = res.socket;
        const done = (): void => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body: text, closed: true });
        if (socket.destroyed || socket.readableEnded) done();
        else socket.once('close', done);
      });
    });
    // The server may close while the rest of a large body is being sent: the answer was read all the same.
    req.on('error', (e: NodeJS.ErrnoException) => (answered && (e.code === 'EPIPE' || e.code === 'ECONNRESET') ? undefined : reject(e)));
    req.end(body);
  });
}
