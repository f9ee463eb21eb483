/**
 * Helpers for the abuse tests (test/abuse, issue 15): the gateway as a real process whose
 * resident memory (RSS) can be read, credentials for it, and a raw MQTT client that speaks
 * packets by hand (mqtt-packet) so a test can do what no well-behaved library does: never
 * send PUBREL, stop reading its socket, connect with an empty client id and clean=0.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { inject } from 'vitest';
import { addCredentials, type NewCredential } from './auth.js';
import { uniqueDb } from './influx.js';
import { connect } from './mqtt.js';
import type { LogLine } from './gateway.js';
import { spawnGateway } from './process.js';
import { waitFor } from './wait.js';

export const MiB = 1024 * 1024;

const WARM_UP = 'warm-up';
const GC_PROBE = resolve(import.meta.dirname, 'gc-probe.ts');

/**
 * glibc malloc settings for the gateway under test, so that its RSS follows what it holds:
 * with its defaults, memory freed after a burst of large payloads stayed resident (a
 * well-behaved run that moved 120 MB of 200 kB payloads left RSS ~140 MiB higher after a full
 * GC; with these, ~10 MiB). Allocations from 64 KiB up are mapped and unmapped on their own,
 * the heap's top is trimmed early, and two arenas at most.
 */
const MALLOC_FOR_MEASURING = { MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_TRIM_THRESHOLD_: '131072', MALLOC_ARENA_MAX: '2' };

/** Resident set size of a process, in bytes, from /proc/<pid>/status (VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

export interface GatewayUnderTest {
  readonly pid: number;
  readonly ports: { readonly mqtt: number; readonly ws: number; readonly http: number };
  readonly mqttUrl: string;
  readonly httpUrl: string;
  readonly influxUrl: string;
  readonly db: string;
  readonly dataDir: string;
  readonly logs: LogLine[];
  /** The secret of each credential made for this gateway, by name. */
  readonly secrets: Readonly<Record<string, string>>;
  /** VmRSS now. */
  rss(): Promise<number>;
  /** VmRSS after full garbage collections in the gateway (test/helpers/gc-probe.ts): what it keeps. */
  settledRss(): Promise<number>;
  /** A sample from /metrics (0 when absent), read as the warm-up admin when credentials exist. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** SIGKILL (nothing here needs a graceful stop) and remove DATA_DIR. */
  stop(): Promise<void>;
}

/**
 * `npm start` as a real process (node + tsx, one pid: the gateway itself), with its own
 * DATA_DIR, database and ports 0, and the credentials given (none: anonymous on loopback).
 */
export async function startGatewayProcess(o: { env?: Record<string, string>; credentials?: readonly NewCredential[] } = {}): Promise<GatewayUnderTest> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-abuse-'));
  // With credentials, one more: an admin for warmUp().
  const secrets = o.credentials?.length ? await addCredentials(dataDir, [...o.credentials, { name: WARM_UP, role: 'admin' }]) : {};
  const db = uniqueDb();
  const influxUrl = inject('influxUrl');
  const p = spawnGateway({
    MQTT_PORT: '0',
    MQTT_WS_PORT: '0',
    HTTP_PORT: '0',
    // Loopback even with credentials: the tests connect from 127.0.0.1, nothing else should.
    BIND_HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    RULES_DIR: 'test/fixtures/rules-simple',
    INFLUX_URL: influxUrl,
    INFLUX_DB: db,
    INFLUX_FLUSH_MS: '20',
    STATS_INTERVAL_MS: '0',
    ...MALLOC_FOR_MEASURING,
    ...o.env,
  }, ['--import', GC_PROBE]);
  const stop = async (): Promise<void> => {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.exited;
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const ports = await p.started();
    const pid = p.child.pid!;
    return {
      pid,
      ports,
      mqttUrl: `mqtt://127.0.0.1:${ports.mqtt}`,
      httpUrl: `http://127.0.0.1:${ports.http}`,
      influxUrl,
      db,
      dataDir,
      logs: p.logs,
      secrets,
      rss: () => rssBytes(pid),
      metric: (name, labels) => metricAs(`http://127.0.0.1:${ports.http}`, name, labels, secrets[WARM_UP] !== undefined ? { name: WARM_UP, secret: secrets[WARM_UP] } : undefined),
      async settledRss() {
        const seen = p.logs.filter((l) => l.msg === 'gc-probe').length;
        p.child.kill('SIGUSR2');
        const probe = await p.waitForLog((l) => l.msg === 'gc-probe' && p.logs.filter((x) => x.msg === 'gc-probe').indexOf(l) >= seen, 'the gc probe', 30_000);
        const rss = await rssBytes(pid);
        note('gc probe', { rss: mib(rss), heapTotal: mib(probe['heapTotal'] as number), heapUsed: mib(probe['heapUsed'] as number), external: mib(probe['external'] as number) });
        return rss;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}


/** A credential, to read the HTTP side with once it asks for one (Basic, as proposed in docs/findings-15.md). */
export interface Who {
  readonly name: string;
  readonly secret: string;
}

export function basicAuth(who: Who): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${who.name}:${who.secret}`).toString('base64')}` };
}

/**
 * One sample of a Prometheus metric (0 when the series does not exist yet), like auth.ts's
 * metric() but sending credentials: /metrics is to require them once credentials exist.
 */
export async function metricAs(httpUrl: string, name: string, labels: Record<string, string> = {}, who?: Who): Promise<number> {
  const res = await fetch(`${httpUrl}/metrics`, { headers: who ? basicAuth(who) : {} });
  if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`);
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const labelText = rest.startsWith('{') ? rest.slice(1, rest.indexOf('}')) : '';
    if (want.every((w) => labelText.split(',').includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

/**
 * Takes every path once before a baseline is measured (a reading through to InfluxDB, a dead
 * letter, a subscription, the HTTP side), so that code compiled and caches filled on first use
 * do not count as growth. With credentials it uses the admin credential startGatewayProcess adds.
 */
export async function warmUp(gw: GatewayUnderTest): Promise<void> {
  const admin = gw.secrets[WARM_UP] !== undefined;
  const auth = admin ? { username: WARM_UP, password: gw.secrets[WARM_UP], clientId: WARM_UP } : { clientId: WARM_UP };
  const client = await connect(gw.mqttUrl, auth);
  await client.subscribeAsync('warm-up/#', { qos: 1 });
  for (let i = 0; i < 20; i++) {
    await client.publishAsync('sensors/warm/up/w-1/temperature', JSON.stringify({ value: 21 + (i % 3), id: `warm-${i}` }), { qos: 1 });
    await client.publishAsync('sensors/warm/up/w-1/madeup', Buffer.alloc(100_000, 0x77), { qos: 1 });
  }
  await client.endAsync();
  const headers = admin ? basicAuth({ name: WARM_UP, secret: gw.secrets[WARM_UP]! }) : {};
  await fetch(`${gw.httpUrl}/metrics`, { headers }).then((r) => r.text());
  await fetch(`${gw.httpUrl}/live/state`, { headers }).then((r) => r.text());
  await waitFor(() => gw.logs.some((l) => l.msg === 'dead letter'), 'the warm-up dead letter');
}

/** A raw MQTT 3.1.1 connection: packets in and out as objects, and a socket the test controls. */
export interface RawClient {
  readonly socket: Socket;
  /** Every packet the broker sent, in order. */
  readonly packets: Packet[];
  /** True once the socket closed (the broker closed it, or it failed). */
  readonly isClosed: () => boolean;
  readonly closed: Promise<void>;
  send(packet: Packet): Promise<void>;
  /** Waits for the first packet (already received or to come) that matches. */
  next<P extends Packet = Packet>(match: (p: Packet) => boolean, what: string, timeoutMs?: number): Promise<P>;
  /** Stops reading the socket: the broker's writes then pile up in the kernel and in the gateway. */
  stopReading(): void;
  destroy(): void;
}

export async function rawClient(port: number, host = '127.0.0.1'): Promise<RawClient> {
  const socket = netConnect(port, host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const packets: Packet[] = [];
  const waiters = new Set<() => void>();
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p: Packet) => {
    packets.push(p);
    for (const w of [...waiters]) w();
  });
  parser.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  socket.on('error', () => undefined);
  let closed = false;
  const closedPromise = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      for (const w of [...waiters]) w();
      resolve();
    }),
  );
  return {
    socket,
    packets,
    isClosed: () => closed,
    closed: closedPromise,
    send: (packet) =>
      new Promise((resolve) => {
        if (socket.destroyed) return resolve();
        socket.write(mqttPacket.generate(packet), () => resolve());
      }),
    next: <P extends Packet>(match: (p: Packet) => boolean, what: string, timeoutMs = 10_000) =>
      new Promise<P>((resolve, reject) => {
        const check = (): void => {
          const found = packets.find(match);
          if (found) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found as P);
          } else if (closed) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`connection closed before ${what} (got ${packets.map((x) => x.cmd).join(', ') || 'nothing'})`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${what} within ${timeoutMs} ms (got ${packets.map((x) => x.cmd).join(', ') || 'nothing'})`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    stopReading: () => {
      socket.pause();
    },
    destroy: () => socket.destroy(),
  };
}

export interface RawConnectOptions {
  readonly clientId: string;
  readonly clean?: boolean;
  readonly username?: string;
  readonly password?: string;
  readonly keepalive?: number;
}

/** A CONNECT packet (MQTT 3.1.1), byte by byte, whatever the combination of fields. */
export function connectBytes(o: RawConnectOptions): Buffer {
  const str = (v: string | Buffer): Buffer => {
    const b = typeof v === 'string' ? Buffer.from(v) : v;
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const flags = (o.clean ?? true ? 0x02 : 0) | (o.username !== undefined ? 0x80 : 0) | (o.password !== undefined ? 0x40 : 0);
  const keepalive = o.keepalive ?? 0;
  const body = Buffer.concat([
    str('MQTT'),
    Buffer.from([4, flags, keepalive >> 8, keepalive & 0xff]),
    str(o.clientId),
    ...(o.username !== undefined ? [str(o.username)] : []),
    ...(o.password !== undefined ? [str(o.password)] : []),
  ]);
  const length: number[] = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    length.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x10, ...length]), body]);
}

/** Connects a raw client and waits for its CONNACK; returns the client and the CONNACK's return code. */
export async function rawConnectMqtt(port: number, o: RawConnectOptions): Promise<{ client: RawClient; returnCode: number; sessionPresent: boolean }> {
  const client = await rawClient(port);
  // Built by hand: mqtt-packet refuses to generate what [MQTT-3.1.3-8] is about (an empty id with clean=0).
  client.socket.write(connectBytes(o));
  const connack = await client.next<mqttPacket.IConnackPacket>((p) => p.cmd === 'connack', 'CONNACK');
  return { client, returnCode: connack.returnCode ?? -1, sessionPresent: connack.sessionPresent };
}

/** Subscribes a raw client and waits for the SUBACK; returns the granted QoS per filter (128 = refused). */
export async function rawSubscribe(client: RawClient, filters: readonly string[], qos: 0 | 1 | 2, messageId: number): Promise<number[]> {
  await client.send({ cmd: 'subscribe', messageId, subscriptions: filters.map((topic) => ({ topic, qos })) });
  const suback = await client.next<mqttPacket.ISubackPacket>((p) => p.cmd === 'suback' && p.messageId === messageId, `SUBACK ${messageId}`);
  // MQTT 3.1.1: one return code per filter, a number.
  return (suback.granted as number[]).map(Number);
}

/** A payload of `bytes` bytes that is a valid reading (`value` plus padding the schema allows). */
export function paddedReading(bytes: number, value = 21, extra: Record<string, unknown> = {}): Buffer {
  const head = JSON.stringify({ value, ...extra, pad: '' });
  const pad = Math.max(0, bytes - head.length);
  return Buffer.from(JSON.stringify({ value, ...extra, pad: 'x'.repeat(pad) }));
}

/** With ABUSE_REPORT=1 in the environment, prints a measured figure (to calibrate bounds); silent otherwise. */
export function note(what: string, figures: Record<string, unknown>): void {
  if (process.env['ABUSE_REPORT']) console.log(`[abuse] ${what}: ${JSON.stringify(figures)}`);
}
