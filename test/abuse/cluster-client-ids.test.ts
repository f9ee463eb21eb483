/**
 * Client ids held by a credential, across a cluster's nodes (README "Client ids are identities").
 * A single gateway refuses a `native` plug connecting as another plug's `DVES_…` id (CONNACK 2,
 * `client_id_taken`), connected or away (test/abuse/client-id-ownership.test.ts). A cluster node
 * knew only its own clients: plug-2 connecting as plug-1's id on node B was admitted, and Aedes'
 * cluster took plug-1's connection on node A over (and, away, its session and queued commands).
 *
 * Wanted: the holder is known on every node (kept in Redis): plug-2 is refused on B while plug-1
 * is connected on A and while its session waits there; plug-1 itself takes its session over on B.
 * Real redis-server, two real gateway processes, raw MQTT clients.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { CredentialStore } from '../../gateway/broker/credentials.js';
import { metricAs, rawConnectMqtt, rawSubscribe, type RawClient } from '../helpers/abuse.js';
import { addCredentials, connackCode } from '../helpers/auth.js';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode, type ClusterNodeProcess } from '../helpers/cluster.js';
import { SIMPLE_RULES } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

const CREDENTIALS = [
  { name: 'plug-1', role: 'native', native: 'tasmota:tasmota_A1B2C3' },
  { name: 'plug-2', role: 'native', native: 'tasmota:tasmota_D4E5F6' },
  { name: 'ops', role: 'admin' },
] as const;

async function cluster(extra: Record<string, string> = {}): Promise<{ a: ClusterNodeProcess; b: ClusterNodeProcess; secrets: Record<string, string>; credentialsFile: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-cluster-ids-'));
  defer(() => rm(dir, { recursive: true, force: true }));
  const secrets = await addCredentials(dir, CREDENTIALS);
  const redis = await startRedis();
  defer(() => redis.stop());
  // One credentials file for both nodes, as the README asks of a cluster.
  const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb('cluster_ids'), RULES_DIR: SIMPLE_RULES, CREDENTIALS_FILE: join(dir, 'credentials.json'), HTTP_AUTH: 'false', BIND_HOST: '127.0.0.1', ...extra };
  const [a, b] = (await Promise.all(['A', 'B'].map((id) => startNode(id, env, track, defer)))) as [ClusterNodeProcess, ClusterNodeProcess];
  await settled(a, ['A', 'B']);
  return { a, b, secrets, credentialsFile: join(dir, 'credentials.json') };
}

describe('a client id held by one credential, in a cluster', () => {
  it('is refused to another credential on another node, connected or away; its own credential takes its session over there', { timeout: 120_000 }, async () => {
    const { a, b, secrets } = await cluster();
    const plug = async (node: ClusterNodeProcess, name: 'plug-1' | 'plug-2', clean = false): Promise<{ client: RawClient; returnCode: number; sessionPresent: boolean }> => {
      const c = await rawConnectMqtt(node.ports.mqtt, { clientId: 'DVES_A1B2C3', clean, username: name, password: secrets[name] });
      defer(async () => c.client.destroy());
      return c;
    };

    // plug-1 on A, persistent, subscribed to its commands.
    const first = await plug(a, 'plug-1');
    expect(first.returnCode).toBe(0);
    expect(await rawSubscribe(first.client, ['cmnd/tasmota_A1B2C3/#'], 1, 1)).toEqual([1]);

    // Connected on A: plug-2 may not take the id over on B, and plug-1 keeps its connection.
    const taking = await plug(b, 'plug-2');
    expect(taking.returnCode, 'plug-2 as DVES_A1B2C3 on B while plug-1 is connected on A').toBe(2);
    expect(first.client.isClosed(), 'plug-1 still connected on A').toBe(false);

    // Away (its session kept, a command queued for it): still plug-1's on B.
    await first.client.send({ cmd: 'disconnect' });
    await first.client.closed;
    const ops = await rawConnectMqtt(b.ports.mqtt, { clientId: 'ops', username: 'ops', password: secrets['ops'] });
    defer(async () => ops.client.destroy());
    expect(ops.returnCode).toBe(0);
    await ops.client.send({ cmd: 'publish', topic: 'cmnd/tasmota_A1B2C3/POWER', payload: Buffer.from('ON'), qos: 1, messageId: 1, retain: false, dup: false });
    await ops.client.next((p) => p.cmd === 'puback', 'PUBACK');
    for (const clean of [false, true]) {
      const away = await plug(b, 'plug-2', clean);
      expect(away.returnCode, `plug-2 as DVES_A1B2C3 (clean=${clean}) on B while plug-1 is away from A`).toBe(2);
      expect(away.sessionPresent).toBe(false);
    }

    // plug-1 itself, on B: its session, and the command queued for it.
    const back = await plug(b, 'plug-1');
    expect([back.returnCode, back.sessionPresent]).toEqual([0, true]);
    const command = await back.client.next((p) => p.cmd === 'publish' && p.topic === 'cmnd/tasmota_A1B2C3/POWER', 'the queued POWER');
    expect(command.cmd === 'publish' && command.payload.toString()).toBe('ON');

    // Connected on B: plug-2 on A is refused as well, and plug-1 on A takes its own connection over (as MQTT says).
    expect(await connackCode(a.mqttUrl, { username: 'plug-2', password: secrets['plug-2'], clientId: 'DVES_A1B2C3', clean: false }), 'plug-2 as DVES_A1B2C3 on A while plug-1 is on B').toBe(2);
    const again = await plug(a, 'plug-1');
    expect(again.returnCode).toBe(0);
    await back.client.closed;

    const who = { name: 'ops', secret: secrets['ops']! };
    expect(await metricAs(b.httpUrl, 'gateway_refusals_total', { reason: 'client_id_taken' }, who)).toBe(3);
    const line = b.proc.logs.find((l) => l['reason'] === 'client_id_taken');
    expect(JSON.stringify(line)).toContain('plug-1');
  });

  it('is free again once its holder is gone: a clean client closed, a session expired on the node it was left on or taken over elsewhere and ended there, a credential removed', { timeout: 120_000 }, async () => {
    const { a, b, secrets, credentialsFile } = await cluster({ MQTT_SESSION_EXPIRY_S: '2' });
    const as = async (node: ClusterNodeProcess, name: string, clientId: string, clean: boolean) => {
      const c = await rawConnectMqtt(node.ports.mqtt, { clientId, clean, username: name, password: secrets[name] });
      defer(async () => c.client.destroy());
      return c;
    };
    const leave = async (c: { client: RawClient }) => {
      await c.client.send({ cmd: 'disconnect' });
      await c.client.closed;
    };

    // A clean client's id is free once it closed.
    await leave(await as(a, 'plug-1', 'DVES_CLEAN', true));
    await waitFor(async () => (await connackCode(b.mqttUrl, { username: 'plug-2', password: secrets['plug-2'], clientId: 'DVES_CLEAN' })) === 0, 'plug-2 as DVES_CLEAN on B once plug-1 closed on A');

    // A session away: held until A expires it (MQTT_SESSION_EXPIRY_S=2), then anyone's.
    const first = await as(a, 'plug-1', 'DVES_AWAY', false);
    expect(await rawSubscribe(first.client, ['cmnd/tasmota_A1B2C3/#'], 1, 1)).toEqual([1]);
    await leave(first);
    expect((await as(b, 'plug-2', 'DVES_AWAY', false)).returnCode, 'held while away').toBe(2);
    await waitFor(async () => (await connackCode(b.mqttUrl, { username: 'plug-2', password: secrets['plug-2'], clientId: 'DVES_AWAY' })) === 0, 'plug-2 as DVES_AWAY on B once A expired the session', 30_000);

    // A session left on A, taken over on B by its credential with a clean session, which then closed: free on A too.
    const left = await as(a, 'plug-1', 'DVES_MOVING', false);
    expect(await rawSubscribe(left.client, ['cmnd/tasmota_A1B2C3/#'], 1, 1)).toEqual([1]);
    await leave(left);
    await leave(await as(b, 'plug-1', 'DVES_MOVING', true));
    await waitFor(async () => (await connackCode(a.mqttUrl, { username: 'plug-2', password: secrets['plug-2'], clientId: 'DVES_MOVING' })) === 0, 'plug-2 as DVES_MOVING on A once plug-1 took its session on B and closed', 10_000);

    // A credential removed (the plug moved to a new one): its session away holds the id no more.
    const moved = await as(a, 'plug-1', 'DVES_MOVED', false);
    expect(await rawSubscribe(moved.client, ['cmnd/tasmota_A1B2C3/#'], 1, 1)).toEqual([1]);
    await leave(moved);
    expect((await as(b, 'plug-2', 'DVES_MOVED', false)).returnCode, 'held while plug-1 exists').toBe(2);
    await new CredentialStore(credentialsFile).remove('plug-1');
    const taken = await as(b, 'plug-2', 'DVES_MOVED', false);
    expect(taken.returnCode, 'plug-2 takes the id of a removed credential').toBe(0);
  });
});
