/**
 * The sink's HTTP client on its own, against a plain local server: the body and headers arrive
 * as sent, connections are kept and reused, a silent server is given up on at the deadline, an
 * error's body is kept for the message. (Writes to a real InfluxDB: sink-faults.test.ts.)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpPoster } from '../../../gateway/storage/http-post.js';
import { Influx1Writer } from '../../../gateway/storage/influx1.js';
import { WriteError } from '../../../gateway/storage/writer.js';

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

const servers: Server[] = [];
const posters: HttpPoster[] = [];

afterEach(async () => {
  for (const p of posters.splice(0)) p.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A server answering with `handle`; counts the connections it accepted. */
async function serve(handle: Handler): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks), res));
  });
  server.on('connection', () => connections++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

const poster = (url: string): HttpPoster => {
  const p = new HttpPoster(url);
  posters.push(p);
  return p;
};

describe('HttpPoster', () => {
  it('sends the body and headers as given, and keeps one connection for consecutive posts', async () => {
    const seen: { path: string; type: string | undefined; length: string | undefined; body: string }[] = [];
    const { url, connections } = await serve((req, body, res) => {
      seen.push({ path: req.url ?? '', type: req.headers['content-type'], length: req.headers['content-length'], body: body.toString() });
      res.writeHead(204).end();
    });
    const p = poster(url);
    for (let i = 0; i < 5; i++) expect(await p.post(`${url}/write?db=x&i=${i}`, Buffer.from(`m v=${i}\n`), { 'content-type': 'text/plain' }, 2000)).toEqual({ status: 204, text: '' });
    expect(seen.map((s) => s.path)).toEqual([0, 1, 2, 3, 4].map((i) => `/write?db=x&i=${i}`));
    expect(seen[3]).toEqual({ path: '/write?db=x&i=3', type: 'text/plain', length: '6', body: 'm v=3\n' });
    expect(connections()).toBe(1);
  });

  it("keeps an error's body for the message", async () => {
    const { url } = await serve((_req, _body, res) => res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"unable to parse"}'));
    expect(await poster(url).post(`${url}/write`, Buffer.from('x'), {}, 2000)).toEqual({ status: 400, text: '{"error":"unable to parse"}' });
  });

  it('gives up on a server that does not answer at the deadline, with ETIMEDOUT', async () => {
    const { url } = await serve(() => undefined);
    await expect(poster(url).post(`${url}/write`, Buffer.from('x'), {}, 300)).rejects.toMatchObject({ code: 'ETIMEDOUT', message: 'no answer within 300 ms' });
  });

  it('abandons a post in flight when its signal aborts (a stop does not wait out the deadline), and sends none once aborted', async () => {
    const stop = new AbortController();
    // The server takes the request and never answers; the stop comes once it has the body.
    const { url, connections } = await serve(() => stop.abort());
    const p = poster(url);
    await expect(p.post(`${url}/write`, Buffer.from('x'), {}, 60_000, stop.signal)).rejects.toMatchObject({ code: 'ECANCELED' });
    expect(connections()).toBe(1);
    await expect(p.post(`${url}/write`, Buffer.from('y'), {}, 60_000, stop.signal)).rejects.toMatchObject({ code: 'ECANCELED' });
    expect(connections()).toBe(1);
  });

  it('fails with the network error when nothing listens', async () => {
    const { url } = await serve((_req, _body, res) => res.writeHead(204).end());
    await new Promise((resolve) => servers.pop()!.close(resolve));
    await expect(poster(url).post(`${url}/write`, Buffer.from('x'), {}, 2000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('posts again after the server closed the kept connection', async () => {
    const { url, connections } = await serve((_req, _body, res) => res.writeHead(204, { connection: 'close' }).end());
    const p = poster(url);
    for (let i = 0; i < 3; i++) expect((await p.post(`${url}/write`, Buffer.from('x'), {}, 2000)).status).toBe(204);
    expect(connections()).toBe(3);
  });
});

describe('Influx1Writer over it', () => {
  it('says which failure a status is, with what the server said', async () => {
    const { url } = await serve((req, _body, res) => {
      if (req.url?.includes('db=missing')) res.writeHead(404).end('{"error":"database not found: \\"missing\\""}');
      else res.writeHead(400).end('{"error":"partial write: unable to parse"}');
    });
    const missing = new Influx1Writer(url, 'missing', 2000);
    const bad = new Influx1Writer(url, 'db', 2000);
    try {
      await expect(missing.write(Buffer.from('m v=1\n'))).rejects.toMatchObject({ failure: 'missing-database', status: 404 });
      const err = await bad.write(Buffer.from('m v=1\n')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WriteError);
      expect(err).toMatchObject({ failure: 'rejected', status: 400, message: 'GW_ERR_INFLUX_REJECTED: InfluxDB answered 400: {"error":"partial write: unable to parse"}' });
    } finally {
      await missing.close();
      await bad.close();
    }
  });

  it('names the network error when InfluxDB is not there', async () => {
    const { url } = await serve((_req, _body, res) => res.writeHead(204).end());
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const writer = new Influx1Writer(url, 'db', 2000);
    try {
      await expect(writer.write(Buffer.from('m v=1\n'))).rejects.toMatchObject({ failure: 'retryable', message: 'GW_ERR_INFLUX_UNREACHABLE: InfluxDB unreachable: ECONNREFUSED' });
    } finally {
      await writer.close();
    }
  });
});
