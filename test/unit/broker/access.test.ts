/**
 * The broker's identity and access decisions through the hooks Aedes calls (authenticate,
 * authorizeSubscribe, and authorizePublish as the publish pipeline builds it), with fake client
 * objects and a real CredentialStore in a temp dir. Each client connects with a client id its
 * credential may use (its own name, or its device): the client-id rules and the login back-off
 * have their own tests (acl.test.ts, login.test.ts, test/abuse/).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Access, type AccessOptions } from '../../../gateway/broker/access.js';
import { CredentialStore } from '../../../gateway/broker/credentials.js';
import { PublishPipeline, type IncomingPublish } from '../../../gateway/broker/publish-pipeline.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { captureLogs } from '../../helpers/gateway.js';
import { count, testMetrics } from '../../helpers/ports.js';

/**
 * One credentials file for the whole file, written once and only read by the tests; one store
 * over it, whose cache of checked secrets spares each test scrypt (slow on purpose) and gives
 * the same answers scrypt would.
 */
let dir: string;
let credentials: CredentialStore;
const SECRETS = { 't-101': 'device-secret-0001', 'hvac-f1': 'actuator-secret-01', grafana: 'observer-secret-01', ops: 'admin-secret-00001' } as const;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gw-access-'));
  const store = new CredentialStore(join(dir, 'credentials.json'));
  await store.add({ name: 't-101', role: 'device', device: 't-101', site: 'hq', zone: 'f1' }, SECRETS['t-101']);
  await store.add({ name: 'hvac-f1', role: 'actuator', site: 'hq', zone: 'f1' }, SECRETS['hvac-f1']);
  await store.add({ name: 'grafana', role: 'observer' }, SECRETS.grafana);
  await store.add({ name: 'ops', role: 'admin' }, SECRETS.ops);
  credentials = store;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(o: Partial<AccessOptions> = {}) {
  const { lines, stream } = captureLogs();
  const log = pino({ level: 'debug' }, stream);
  const clock = new ManualClock(0);
  const metrics = testMetrics(clock);
  const access = new Access({
    store: credentials,
    metrics,
    log,
    allowAnonymous: 'auto',
    anonymousRole: 'admin',
    bindHost: '127.0.0.1',
    maxConnections: 0,
    maxPacketBytes: 0,
    topics: { maxLength: 64, maxLevels: 6 },
    publishRate: 0,
    publishBurst: 0,
    // High enough never to lock anyone out here: the back-off is not what these tests are about.
    loginBackoffAfter: 1000,
    loginBackoffMaxMs: 1000,
    now: () => clock.now(),
    ...o,
  });
  await access.start();
  const handled: { clientId: string | null; packet: IncomingPublish }[] = [];
  const pipeline = new PublishPipeline(access);
  pipeline.deliverTo({ handle: (clientId, packet) => void handled.push({ clientId, packet }) });

  const client = (id: string, address = '10.0.0.5'): Client => ({ id, conn: Object.assign(new EventEmitter(), { remoteAddress: address }), closed: false }) as unknown as Client;

  const authenticate = (c: Client, username?: string, password?: string) =>
    new Promise<{ error: AuthenticateError | null; ok: boolean | null }>((resolve) =>
      access.hooks.authenticate(c, username, password === undefined ? undefined : Buffer.from(password), (error, ok) => resolve({ error, ok })),
    );

  /** A client that connected with its credential's name as username and client id. */
  const connected = async (name: keyof typeof SECRETS): Promise<Client> => {
    const c = client(name);
    expect(await authenticate(c, name, SECRETS[name])).toEqual({ error: null, ok: true });
    return c;
  };

  /** The SUBACK entry: the subscription granted, or null for a refused filter. */
  const subscribe = (c: Client, topic: string) =>
    new Promise<{ error: Error | null; granted: Subscription | null | undefined }>((resolve) =>
      access.hooks.authorizeSubscribe(c, { topic, qos: 1 }, (error, granted) => resolve({ error, granted })),
    );

  /** Runs the publish hook; the error refuses it (Aedes disconnects), else ingest got it. */
  const publish = (c: Client | null, topic: string) =>
    new Promise<Error | null | undefined>((resolve) => {
      const packet = { cmd: 'publish', topic, payload: Buffer.from('21.5'), qos: 0, dup: false, retain: false } as PublishPacket;
      pipeline.authorizePublish(c, packet, (error) => resolve(error));
    });

  return { access, lines, metrics, handled, client, authenticate, connected, subscribe, publish };
}

describe('Access: who a client is', () => {
  it('accepts a credential with its secret, and refuses a wrong secret or an unknown username with CONNACK 4', async () => {
    const { authenticate, client, metrics, lines } = await setup();
    expect(await authenticate(client('t-101'), 't-101', SECRETS['t-101'])).toEqual({ error: null, ok: true });

    const wrong = await authenticate(client('t-101'), 't-101', 'not-the-secret');
    expect(wrong.ok).toBe(false);
    expect(wrong.error).toMatchObject({ returnCode: 4, code: 'GW_ERR_AUTH', message: 'GW_ERR_AUTH: wrong password' });

    const unknown = await authenticate(client('someone'), 'someone', SECRETS.ops);
    expect(unknown).toMatchObject({ ok: false, error: { returnCode: 4, message: 'GW_ERR_AUTH: unknown username' } });

    expect(await count(metrics, 'gateway_refusals_total', { reason: 'bad_credentials' })).toBe(2);
    expect(lines.filter((l) => l.msg === 'refused: bad_credentials').map((l) => [l['code'], l['username'], l['address'], l['detail']])).toEqual([
      ['GW_ERR_AUTH', 't-101', '10.0.0.5', 'wrong password'],
      ['GW_ERR_AUTH', 'someone', '10.0.0.5', 'unknown username'],
    ]);
    // No secret, right or wrong, reaches the log.
    const text = JSON.stringify(lines);
    for (const secret of [...Object.values(SECRETS), 'not-the-secret']) expect(text).not.toContain(secret);
  });

  it('refuses a client without a username once credentials exist (CONNACK 5)', async () => {
    const { authenticate, client, metrics } = await setup();
    expect(await authenticate(client('dash-1'))).toMatchObject({ ok: false, error: { returnCode: 5, message: expect.stringContaining('anonymous clients are refused') } });
    expect(await count(metrics, 'gateway_refusals_total', { reason: 'anonymous_refused' })).toBe(1);
  });

  it('lets an anonymous client in with the anonymous role when anonymous clients are allowed', async () => {
    const { authenticate, client, subscribe, publish } = await setup({ allowAnonymous: 'true', anonymousRole: 'observer' });
    const dash = client('dash-1');
    expect(await authenticate(dash)).toEqual({ error: null, ok: true });
    expect((await subscribe(dash, 'sensors/#')).granted).toEqual({ topic: 'sensors/#', qos: 1 });
    expect(await publish(dash, 'sensors/hq/f1/t-1/temperature')).toBeInstanceOf(Error);
  });
});

describe('Access: what a client may publish', () => {
  it.each([
    ['t-101', 'sensors/hq/f1/t-101/temperature', true],
    ['t-101', 'devices/t-101/status', true],
    ['t-101', 'sensors/hq/f1/t-102/temperature', false],
    ['t-101', 'sensors/hq/f2/t-101/temperature', false],
    ['t-101', 'zones/hq/f1/armed', false],
    ['t-101', 'commands/hq/f1/hvac', false],
    ['hvac-f1', 'sensors/hq/f1/hvac-f1/power', false],
    ['grafana', 'sensors/hq/f1/t-101/temperature', false],
    ['ops', 'zones/hq/f1/armed', true],
    ['ops', 'sensors/hq/f9/anything/temperature', true],
    ['ops', 'commands/hq/f1/hvac', false],
    ['ops', 'alerts/hq/critical', false],
    ['ops', 'gateway/deadletter', false],
    ['ops', '$SYS/broker/uptime', false],
  ] as const)('%s → %s: %s', async (name, topic, allowed) => {
    const { connected, publish, handled, metrics, lines } = await setup();
    const c = await connected(name);
    const error = await publish(c, topic);
    if (allowed) {
      expect(error).toBeNull();
      expect(handled.map((h) => [h.clientId, h.packet.topic])).toEqual([[name, topic]]);
    } else {
      expect(error).toMatchObject({ code: 'GW_ERR_ACCESS', message: expect.stringContaining(`publish to ${topic} refused: `) });
      expect(handled).toEqual([]);
      expect(await count(metrics, 'gateway_refusals_total', { reason: 'publish_denied' })).toBe(1);
      expect(lines.find((l) => l.msg === 'refused: publish_denied')).toMatchObject({ code: 'GW_ERR_ACCESS', clientId: name, username: name, topic, address: '10.0.0.5' });
    }
  });

  it('refuses a publish from a client that never authenticated', async () => {
    const { client, publish, handled } = await setup();
    expect(await publish(client('t-101'), 'sensors/hq/f1/t-101/temperature')).toMatchObject({ message: expect.stringContaining('not authenticated') });
    expect(handled).toEqual([]);
  });

  it('lets the gateway’s own publishes through (no client: a will replayed by the broker)', async () => {
    const { publish, handled } = await setup();
    expect(await publish(null, 'devices/t-101/status')).toBeNull();
    expect(handled.map((h) => h.clientId)).toEqual([null]);
  });

  it('refuses a replayed will to a $ topic: the gateway keeps what it learnt there, retained (a will stored before wills were checked at CONNECT)', async () => {
    const { publish, handled } = await setup();
    expect(await publish(null, '$gateway/devices/learnt/shelly/shellyplus1-a8032ab12345')).toMatchObject({ message: expect.stringContaining('$ topics are reserved') });
    expect(handled).toEqual([]);
  });
});

describe('Access: what a client may subscribe to', () => {
  it.each([
    ['t-101', 'commands/hq/f1/#', true],
    ['t-101', 'commands/hq/f1/hvac', true],
    ['t-101', 'commands/hq/#', false],
    ['t-101', 'commands/hq/f2/hvac', false],
    ['t-101', 'sensors/#', false],
    ['hvac-f1', 'commands/hq/f1/hvac', true],
    ['hvac-f1', 'commands/hq/f2/hvac', false],
    ['hvac-f1', 'commands/+/f1/hvac', false],
    ['grafana', '#', true],
    ['grafana', 'alerts/hq/critical', true],
    ['ops', 'gateway/deadletter', true],
  ] as const)('%s → %s: %s', async (name, topic, allowed) => {
    const { connected, subscribe, metrics } = await setup();
    const c = await connected(name);
    const { error, granted } = await subscribe(c, topic);
    // A refused filter is a SUBACK failure for it, not an error: the client stays connected.
    expect(error).toBeNull();
    expect(granted).toEqual(allowed ? { topic, qos: 1 } : null);
    expect(await count(metrics, 'gateway_refusals_total', { reason: 'subscribe_denied' })).toBe(allowed ? 0 : 1);
  });

  it('refuses a subscription from a client that never authenticated', async () => {
    const { client, subscribe } = await setup();
    expect((await subscribe(client('grafana'), '#')).granted).toBeNull();
  });
});

describe('Access: topic limits', () => {
  it('refuses a topic or filter longer or deeper than the limits, whatever the role', async () => {
    const { connected, publish, subscribe, metrics, lines, handled } = await setup();
    const ops = await connected('ops');
    const long = `sensors/hq/f1/${'x'.repeat(60)}/temperature`;
    expect(await publish(ops, long)).toMatchObject({ message: expect.stringContaining('the limit is 64 (MAX_TOPIC_LENGTH)') });
    expect((await subscribe(ops, 'a/b/c/d/e/f/g')).granted).toBeNull();
    expect((await subscribe(ops, 'a/b/c/d/e/f')).granted).toEqual({ topic: 'a/b/c/d/e/f', qos: 1 });
    expect(handled).toEqual([]);
    expect(await count(metrics, 'gateway_refusals_total', { reason: 'topic_too_long' })).toBe(1);
    expect(await count(metrics, 'gateway_refusals_total', { reason: 'topic_too_deep' })).toBe(1);
    expect(lines.find((l) => l.msg === 'refused: topic_too_deep')).toMatchObject({ code: 'GW_ERR_LIMIT', detail: 'topic has 7 levels, the limit is 6 (MAX_TOPIC_LEVELS)' });
  });

  it('counts a topic’s length in UTF-8 bytes, as on the wire', async () => {
    const { connected, publish } = await setup();
    const ops = await connected('ops');
    // 25 characters, 50 bytes of 'é', in a topic of 64 characters but more than 64 bytes.
    const topic = `zones/${'é'.repeat(25)}/${'z'.repeat(26)}/armed`;
    expect(topic.length).toBeLessThanOrEqual(64);
    expect(await publish(ops, topic)).toMatchObject({ message: expect.stringContaining('MAX_TOPIC_LENGTH') });
  });

  it('caps connections not yet authenticated in all (MQTT_MAX_PENDING_CONNECTIONS) and frees a place when one authenticates or closes', async () => {
    const { access, metrics, client, authenticate } = await setup({ maxPendingConnections: 2 });
    const conn = (address: string) => Object.assign(new EventEmitter(), { remoteAddress: address }) as unknown as Duplex;
    const [a, b] = [conn('10.0.0.1'), conn('10.0.0.2')];
    expect(access.admit(a)).toBe(true);
    expect(access.admit(b)).toBe(true);
    expect(access.admit(conn('10.0.0.3'))).toBe(false);
    expect(await count(metrics, 'gateway_refusals_total', { reason: 'pending_connections' })).toBe(1);
    expect(await count(metrics, 'gateway_pending_connections')).toBe(2);
    // One authenticates: no longer pending.
    const c = Object.assign(client('ops'), { conn: a });
    expect(await authenticate(c, 'ops', SECRETS.ops)).toEqual({ error: null, ok: true });
    expect(access.admit(conn('10.0.0.3'))).toBe(true);
    // One closes.
    b.emit('close');
    expect(access.admit(conn('10.0.0.4'))).toBe(true);
    expect(await count(metrics, 'gateway_pending_connections')).toBe(2);
  });
});
