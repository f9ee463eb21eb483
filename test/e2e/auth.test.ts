/**
 * Who may talk, with real clients (mqtt.js and Debian's mosquitto_pub/mosquitto_sub) against a
 * real gateway whose credentials file holds devices in two zones, an observer, an actuator and
 * an admin.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { SIMPLE_RULES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';
import { addCredentials, connackCode, metric, publishExpectingDisconnect, run, subscribeCodes } from '../helpers/auth.js';

let gw: TestGateway;
let secrets: Record<string, string>;
const open: MqttClient[] = [];

async function as(name: string, extra: { clientId?: string } = {}): Promise<MqttClient> {
  const client = await connect(gw.mqttUrl, { username: name, password: secrets[name], clientId: extra.clientId ?? name });
  open.push(client);
  return client;
}

/** /metrics asks for credentials once they exist: read it as the admin. */
const opsCredential = () => ({ name: 'ops', secret: secrets['ops']! });

const mqttHostPort = () => ['-h', '127.0.0.1', '-p', String(gw.running.ports.mqtt)];

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-auth-'));
  secrets = await addCredentials(dataDir, [
    { name: 't-a', role: 'device', device: 't-a', site: 'hq', zone: 'f1' },
    { name: 't-b', role: 'device', device: 't-b', site: 'hq', zone: 'f2' },
    { name: 'victim', role: 'device', device: 'victim', site: 'hq', zone: 'f3' },
    { name: 't-c', role: 'device', device: 't-c', site: 'hq', zone: 'f3' },
    { name: 'watcher', role: 'observer' },
    { name: 'hvac-f1', role: 'actuator', site: 'hq', zone: 'f1' },
    { name: 'ops', role: 'admin' },
  ]);
  // No BIND_HOST: with credentials configured the gateway listens on every interface.
  // A rule pack that commands on every change, so each test sees its command whatever came before.
  gw = await startGateway({ dataDir, rulesDir: SIMPLE_RULES });
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.endAsync().catch(() => undefined)));
  await gw?.stop();
});

describe('identity', () => {
  it('listens on every interface once credentials exist, and refuses anonymous clients there', async () => {
    expect(gw.running.host).toBe('0.0.0.0');
    expect(await connackCode(gw.mqttUrl, { clientId: 'anon' })).toBe(5);
    const pub = await run('mosquitto_pub', [...mqttHostPort(), '-t', 'sensors/hq/f1/t-a/temperature', '-m', '{"value":20}']);
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toMatch(/not authori[sz]ed/i);
    expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'anonymous_refused' }, opsCredential())).toBeGreaterThanOrEqual(2);
  });

  it('refuses a wrong password and an unknown user (CONNACK 4), logs why, and never logs the secret', async () => {
    expect(await connackCode(gw.mqttUrl, { username: 't-a', password: 'wrong-password', clientId: 't-a' })).toBe(4);
    expect(await connackCode(gw.mqttUrl, { username: 'nobody', password: secrets['t-a'], clientId: 'nobody' })).toBe(4);
    const pub = await run('mosquitto_pub', [...mqttHostPort(), '-u', 't-b', '-P', 'not-the-secret', '-i', 't-b', '-t', 'sensors/hq/f2/t-b/temperature', '-m', '{"value":20}']);
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toMatch(/bad user name or password/i);
    expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'bad_credentials' }, opsCredential())).toBe(3);
    const refusals = gw.logs.filter((l) => l['reason'] === 'bad_credentials');
    expect(refusals.map((l) => [l['username'], l['detail'], l['code']])).toEqual([
      ['t-a', 'wrong password', 'GW_ERR_AUTH'],
      ['nobody', 'unknown username', 'GW_ERR_AUTH'],
      ['t-b', 'wrong password', 'GW_ERR_AUTH'],
    ]);
    const everything = JSON.stringify(gw.logs);
    for (const secret of Object.values(secrets)) expect(everything).not.toContain(secret);
    expect(everything).not.toContain('not-the-secret');
  });

  it('accepts the right secret from mosquitto_pub, and stores the reading', async () => {
    const pub = await run('mosquitto_pub', [...mqttHostPort(), '-u', 't-b', '-P', secrets['t-b']!, '-i', 't-b', '-q', '1', '-t', 'sensors/hq/f2/t-b/temperature', '-m', '{"value":21.5,"id":"mosq-ok"}']);
    expect(pub).toMatchObject({ code: 0 });
    await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE event_id = 'mosq-ok'`).then((r) => r.length === 1), 'the reading in InfluxDB');
  });

  it("refuses device A connecting under device B's client id (CONNACK 2), and anyone taking a device's id", async () => {
    expect(await connackCode(gw.mqttUrl, { username: 't-a', password: secrets['t-a'], clientId: 't-b' })).toBe(2);
    expect(await connackCode(gw.mqttUrl, { username: 'watcher', password: secrets['watcher'], clientId: 't-b' })).toBe(2);
    expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'client_id_mismatch' }, opsCredential())).toBe(2);
  });

  it('backs off after repeated failed logins for that user and address, refusing even the right secret, while others still connect', async () => {
    for (let i = 0; i < 5; i++) expect(await connackCode(gw.mqttUrl, { username: 'victim', password: `guess-${i}`, clientId: 'victim' })).toBe(4);
    expect(await connackCode(gw.mqttUrl, { username: 'victim', password: secrets['victim'], clientId: 'victim' })).toBe(5);
    expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'login_backoff' }, opsCredential())).toBe(1);
    expect(gw.logs.find((l) => l['reason'] === 'login_backoff')).toMatchObject({ username: 'victim', code: 'GW_ERR_AUTH', detail: expect.stringMatching(/too many failed logins/) });
    expect(await connackCode(gw.mqttUrl, { username: 't-a', password: secrets['t-a'], clientId: 't-a' })).toBe(0);
  });
});

describe('access control by role', () => {
  it('lets a device publish its own readings and status, but not as device B: the publish is refused and nothing is stored', async () => {
    const a = await as('t-a');
    await a.publishAsync('devices/t-a/status', 'online', { qos: 1 });
    await a.publishAsync('sensors/hq/f1/t-a/temperature', JSON.stringify({ value: 21, id: 'a-own' }), { qos: 1 });
    await publishExpectingDisconnect(a, 'sensors/hq/f2/t-b/temperature', JSON.stringify({ value: 99, id: 'forged-b' }));
    // Ordered after the forged one: once this is stored, the forged one would have been too.
    const b = await as('t-b');
    await b.publishAsync('sensors/hq/f2/t-b/temperature', JSON.stringify({ value: 22, id: 'b-after' }), { qos: 1 });
    await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE event_id = 'b-after'`).then((r) => r.length === 1), 'the later reading');
    expect(await rows(gw.influxUrl, gw.db, `SELECT event_id FROM temperature WHERE event_id = 'forged-b' OR event_id = 'a-own'`)).toEqual([expect.objectContaining({ event_id: 'a-own' })]);
    expect(gw.logs.find((l) => l['reason'] === 'publish_denied' && l['clientId'] === 't-a')).toMatchObject({
      code: 'GW_ERR_ACCESS',
      topic: 'sensors/hq/f2/t-b/temperature',
      detail: expect.stringContaining('publishes only sensors/hq/f1/t-a/'),
    });
  });

  it('refuses any client publishing to commands/, alerts/ or gateway/deadletter: subscribers see only what the gateway sends', async () => {
    const watcher = await as('watcher');
    const seen = await collect(watcher, ['commands/#', 'alerts/#', 'gateway/deadletter']);
    for (const [name, topic] of [['t-a', 'commands/hq/f1/hvac'], ['ops', 'alerts/hq/critical'], ['ops', 'gateway/deadletter'], ['hvac-f1', 'commands/hq/f1/hvac']] as const) {
      await publishExpectingDisconnect(await as(name), topic, JSON.stringify({ forged: true }));
    }
    // The gateway's own command, caused by a hot reading from an admin, arrives first.
    const ops = await as('ops');
    await ops.publishAsync('sensors/hq/f1/t-x/temperature', JSON.stringify({ value: 31, id: 'hot-after-forgery' }), { qos: 1 });
    const first = await seen.next();
    expect(first.topic).toBe('commands/hq/f1/hvac');
    expect(first.json()).toMatchObject({ specversion: '1.0', correlationid: 'hot-after-forgery' });
    expect(seen.messages.some((m) => m.payload.includes('forged'))).toBe(false);
    expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'publish_denied' }, opsCredential())).toBeGreaterThanOrEqual(5);
  });

  it("refuses a CONNECT whose will the client may not publish (sent unchecked once it drops: after a crash, or by another node), and keeps a device's will on its own status", async () => {
    const will = (topic: string) => ({ topic, payload: Buffer.from(JSON.stringify({ state: 'on', forged: true })), qos: 1 as const, retain: true });
    const login = (name: string, clientId: string) => ({ username: name, password: secrets[name], clientId });
    expect(await connackCode(gw.mqttUrl, { ...login('t-c', 't-c'), will: will('commands/hq/f3/hvac') })).toBe(5);
    expect(await connackCode(gw.mqttUrl, { ...login('watcher', 'watcher:will'), will: will('sensors/hq/f1/t-a/temperature') })).toBe(5);
    // The gateway's own memory (what it learnt of native devices, kept retained): an admin's will neither.
    expect(await connackCode(gw.mqttUrl, { ...login('ops', 'ops:will'), will: will('$gateway/devices/learnt/shelly/shellyplus1-a8032ab12345') })).toBe(5);
    expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'will_denied' }, opsCredential())).toBe(3);
    expect(gw.logs.some((l) => l['reason'] === 'will_denied' && JSON.stringify(l).includes('commands/hq/f3/hvac'))).toBe(true);
    // A device's last will on its own status is what devices send (Tasmota's LWT, ESPHome's status).
    const status = await as('watcher');
    const seen = await collect(status, 'devices/t-c/status');
    const b = await connect(gw.mqttUrl, { ...login('t-c', 't-c'), will: { topic: 'devices/t-c/status', payload: Buffer.from('offline'), qos: 1, retain: false } });
    (b.stream as { destroy(): void }).destroy();
    expect((await seen.next()).payload).toBe('offline');
  });

  it("refuses a device's subscription to another zone's commands (SUBACK 0x80) and delivers its own zone's", async () => {
    const a = await as('t-a');
    expect(await subscribeCodes(a, ['commands/hq/f2/#', 'commands/#', 'commands/+/f1/hvac', 'sensors/#', 'commands/hq/f1/#'])).toEqual([128, 128, 128, 128, 1]);
    expect(a.connected).toBe(true);
    const received: string[] = [];
    a.on('message', (topic) => received.push(topic));
    const ops = await as('ops');
    await ops.publishAsync('sensors/hq/f2/t-y/temperature', JSON.stringify({ value: 31, id: 'hot-f2' }), { qos: 1 });
    await ops.publishAsync('sensors/hq/f1/t-z/temperature', JSON.stringify({ value: 12, id: 'cold-f1' }), { qos: 1 });
    await waitFor(() => received.length > 0, 'a command for t-a');
    expect(received[0]).toBe('commands/hq/f1/hvac');
    expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'subscribe_denied' }, opsCredential())).toBeGreaterThanOrEqual(4);
  });

  it("refuses the other zone's commands to mosquitto_sub as well", async () => {
    const sub = await run('mosquitto_sub', [...mqttHostPort(), '-u', 't-a', '-P', secrets['t-a']!, '-i', 't-a', '-t', 'commands/hq/f2/#', '-C', '1', '-W', '5']);
    // mosquitto_sub 2.0 says so and exits (with 0) rather than waiting for messages.
    expect(sub.stderr).toMatch(/All subscription requests were denied/);
    expect(sub.stdout).toBe('');
  });

  it('lets an actuator subscribe to commands within its zone only', async () => {
    const hvac = await as('hvac-f1');
    expect(await subscribeCodes(hvac, ['commands/hq/f1/hvac', 'commands/hq/f2/hvac', 'sensors/#'])).toEqual([1, 128, 128]);
  });

  it('lets an observer (mosquitto_sub) see everything, readings, dead letters and commands, and publish nothing', async () => {
    const sub = run('mosquitto_sub', [...mqttHostPort(), '-u', 'watcher', '-P', secrets['watcher']!, '-i', 'watcher:sub', '-t', '#', '-v', '-C', '12', '-W', '20']);
    let done = false;
    void sub.then(() => (done = true));
    // Until mosquitto_sub has seen enough: hot and in-band readings in turn (each one a command), and a dead letter.
    const b = await as('t-b');
    for (let i = 0; !done && i < 200; i++) {
      await b.publishAsync('sensors/hq/f2/t-b/temperature', JSON.stringify({ value: i % 2 ? 35 : 21, id: `observed-${i}` }), { qos: 1 });
      await b.publishAsync('sensors/hq/f2/t-b/temperature', 'not json', { qos: 1 });
      await new Promise((r) => setTimeout(r, 50));
    }
    const out = await sub;
    expect(out.code).toBe(0);
    const topics = new Set(out.stdout.trim().split('\n').map((l) => l.split(' ')[0]));
    expect([...topics].sort()).toEqual(['commands/hq/f2/hvac', 'gateway/deadletter', 'sensors/hq/f2/t-b/temperature']);
    const watcher = await as('watcher', { clientId: 'watcher:pub' });
    await publishExpectingDisconnect(watcher, 'sensors/hq/f1/t-a/temperature', '{"value":1}');
    expect(gw.logs.find((l) => l['reason'] === 'publish_denied' && l['clientId'] === 'watcher:pub')).toMatchObject({ detail: 'an observer publishes nothing' });
  });
});
