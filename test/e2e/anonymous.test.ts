/**
 * Like Mosquitto 2: with no credentials the gateway listens on loopback and lets anonymous
 * clients in (the README's first run); bound elsewhere it refuses them unless told otherwise.
 * Credentials added or removed with the CLI take effect at the next CONNECT.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';
import { connackCode, metric, publishExpectingDisconnect, run } from '../helpers/auth.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const cli = (dataDir: string, ...args: string[]) =>
  run(resolve(ROOT, 'node_modules', '.bin', 'tsx'), [resolve(ROOT, 'gateway', 'cli', 'credentials.ts'), ...args], { env: { ...process.env, DATA_DIR: dataDir, CREDENTIALS_FILE: '' } });

describe('with no credentials configured', () => {
  it('listens on loopback only and takes anonymous publishes from mosquitto_pub', async () => {
    const gw = await startGateway();
    try {
      expect(gw.running.host).toBe('127.0.0.1');
      const pub = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(gw.running.ports.mqtt), '-q', '1', '-t', 'sensors/hq/f1/t1/temperature', '-m', '{"value":31,"id":"anon-1"}']);
      expect(pub).toMatchObject({ code: 0, stderr: '' });
      await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM temperature WHERE event_id = 'anon-1'`).then((r) => r.length === 1), 'the anonymous reading in InfluxDB');
    } finally {
      await gw.stop();
    }
  });

  it('refuses anonymous clients when bound to every interface, and says at start that nobody can connect', async () => {
    // Bound beyond loopback, HTTP asks for credentials too, and none exist: /metrics opened for the count.
    const gw = await startGateway({ env: { BIND_HOST: '0.0.0.0', METRICS_PUBLIC: 'true' } });
    try {
      expect(await connackCode(gw.mqttUrl, { clientId: 'anon' })).toBe(5);
      expect(gw.logs.find((l) => l.code === 'GW_ERR_AUTH' && /no client can connect/.test(l.msg))).toBeDefined();
      expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'anonymous_refused' })).toBe(1);
    } finally {
      await gw.stop();
    }
  });

  it('lets anonymous clients in on every interface when MQTT_ALLOW_ANONYMOUS=true, with MQTT_ANONYMOUS_ROLE', async () => {
    const gw = await startGateway({ env: { BIND_HOST: '0.0.0.0', MQTT_ALLOW_ANONYMOUS: 'true', MQTT_ANONYMOUS_ROLE: 'observer', METRICS_PUBLIC: 'true' } });
    try {
      const client = await connect(gw.mqttUrl, { clientId: 'anon-observer' });
      expect((await client.subscribeAsync('sensors/#', { qos: 1 }))[0]?.qos).toBe(1);
      await publishExpectingDisconnect(client, 'sensors/hq/f1/t1/temperature', '{"value":20}');
      expect(await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'publish_denied' })).toBe(1);
    } finally {
      await gw.stop();
    }
  });
});

describe('npm run credentials', () => {
  it('adds a credential and prints its secret once; the running gateway then requires it, and refuses it once removed', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-cli-'));
    const gw = await startGateway({ dataDir, env: { BIND_HOST: '127.0.0.1' } });
    try {
      expect(await connackCode(gw.mqttUrl, { clientId: 'before' })).toBe(0);

      const added = await cli(dataDir, 'add', 't-9', '--role', 'device', '--site', 'hq', '--zone', 'f9');
      expect(added.code).toBe(0);
      const secret = /^secret: (\S+)$/m.exec(added.stdout)?.[1];
      expect(secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
      const list = await cli(dataDir, 'list');
      expect(list.stdout).toMatch(/^t-9\s+device, device t-9, in hq\/f9/m);
      expect(list.stdout).not.toContain(secret);
      expect(list.stdout).not.toContain('scrypt');

      // Credentials exist now: anonymous is refused, the device gets in with its secret and client id.
      expect(await connackCode(gw.mqttUrl, { clientId: 'after' })).toBe(5);
      const device = await connect(gw.mqttUrl, { username: 't-9', password: secret, clientId: 't-9' });
      await device.publishAsync('sensors/hq/f9/t-9/humidity', JSON.stringify({ value: 40, id: 'cli-1' }), { qos: 1 });
      await device.endAsync();
      await waitFor(() => rows(gw.influxUrl, gw.db, `SELECT value FROM humidity WHERE event_id = 'cli-1'`).then((r) => r.length === 1), 'the reading in InfluxDB');

      // (With the last credential gone the gateway would be back to anonymous-on-loopback: keep another.)
      expect((await cli(dataDir, 'add', 'ops', '--role', 'admin')).code).toBe(0);
      expect((await cli(dataDir, 'remove', 't-9')).code).toBe(0);
      expect(await connackCode(gw.mqttUrl, { username: 't-9', password: secret, clientId: 't-9' })).toBe(4);
      const again = await cli(dataDir, 'remove', 't-9');
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/no credential named "t-9"/);
    } finally {
      await gw.stop();
    }
  });

  it('keeps refusing anonymous clients on every interface after the last credential is removed', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-cli-'));
    expect((await cli(dataDir, 'add', 'ops', '--role', 'admin')).code).toBe(0);
    const gw = await startGateway({ dataDir });
    try {
      expect(gw.running.host).toBe('0.0.0.0');
      expect((await cli(dataDir, 'remove', 'ops')).code).toBe(0);
      expect(await connackCode(gw.mqttUrl, { clientId: 'anon' })).toBe(5);
    } finally {
      await gw.stop();
    }
  });

  it('refuses a device without its site and zone, and a duplicate name', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-cli-'));
    const noZone = await cli(dataDir, 'add', 't-1', '--role', 'device');
    expect(noZone.code).toBe(1);
    expect(noZone.stderr).toMatch(/needs --site and --zone/);
    expect((await cli(dataDir, 'add', 'ops', '--role', 'admin')).code).toBe(0);
    const dup = await cli(dataDir, 'add', 'ops', '--role', 'observer');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/GW_ERR_CREDENTIALS: a credential named "ops" exists already/);
  });
});
