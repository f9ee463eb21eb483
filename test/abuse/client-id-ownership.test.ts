/**
 * An outside tester's findings (takeover2.py, takeover3.py): a `native` credential may pick its
 * own client id (firmware does: Tasmota's DVES_XXXXXX), and that was any id not reserved by name.
 * So plug-1 connecting as `ops:tool` dropped the admin's tool, plug-2 connecting as plug-1's
 * DVES_A1B2C3 with clean=false got plug-1's session and the command queued for it, and one plug
 * holding 299 connections or leaving 80 persistent sessions locked everyone else out
 * (MAX_CONNECTIONS) or evicted an actuator's session (MQTT_MAX_AWAY_SESSIONS).
 *
 * Wanted: a client id held by one credential (connected, or a persistent session it left) is
 * refused to every other (CONNACK 2, `client_id_taken`); `<name>:<suffix>` belongs to credential
 * `<name>`; a credential that is not an admin holds at most MQTT_MAX_CONNECTIONS_PER_CREDENTIAL
 * connections and MQTT_MAX_AWAY_SESSIONS_PER_CREDENTIAL sessions away (its own oldest goes).
 */
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { metricAs, rawConnectMqtt, type RawClient } from '../helpers/abuse.js';
import { addCredentials, connackCode } from '../helpers/auth.js';
import { startGateway, SIMPLE_RULES, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { useTempDirs } from '../helpers/temp-dirs.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway | undefined;
const tempDir = useTempDirs('gw-abuse-owned-ids-');
const open: MqttClient[] = [];
const raw: RawClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.end(true);
  for (const c of raw.splice(0)) c.destroy();
  await gw?.stop();
  gw = undefined;
});

const CREDENTIALS = [
  { name: 'plug-1', role: 'native', native: 'tasmota:tasmota_A1B2C3' },
  { name: 'plug-2', role: 'native', native: 'tasmota:tasmota_D4E5F6' },
  { name: 'ops', role: 'admin' },
  { name: 'obs', role: 'observer' },
  { name: 'hvac-f1', role: 'actuator', device: 'hvac-f1', site: 'hq', zone: 'f1' },
  { name: 't-101', role: 'device', device: 't-101', site: 'hq', zone: 'f1' },
] as const;

async function start(env: Record<string, string> = {}): Promise<{ gw: TestGateway; secrets: Record<string, string> }> {
  const dataDir = await tempDir();
  const secrets = await addCredentials(dataDir, CREDENTIALS);
  gw = await startGateway({ dataDir, rulesDir: SIMPLE_RULES, env });
  return { gw, secrets };
}

describe('client ids held by a credential', () => {
  it('`<name>:<suffix>` belongs to credential <name>: a native plug connecting as ops:tool or obs:grafana is refused and the owner stays', async () => {
    const { gw, secrets } = await start();
    for (const [name, id] of [['ops', 'ops:tool'], ['obs', 'obs:grafana']] as const) {
      const owner = await connect(gw.mqttUrl, { username: name, password: secrets[name], clientId: id });
      open.push(owner);
      let closed = false;
      owner.on('close', () => (closed = true));
      expect(await connackCode(gw.mqttUrl, { username: 'plug-1', password: secrets['plug-1'], clientId: id }), `plug-1 as ${id}`).toBe(2);
      expect(closed, `${id} kept its connection`).toBe(false);
    }
    const ops = { name: 'ops', secret: secrets['ops']! };
    expect(await metricAs(gw.httpUrl, 'gateway_refusals_total', { reason: 'client_id_mismatch' }, ops)).toBe(2);
  });

  it('is refused to another credential while held, connected or away, and the owner gets its session and the command queued for it', async () => {
    const { gw, secrets } = await start();
    const port = gw.running.ports.mqtt;
    const plug = (name: 'plug-1' | 'plug-2', clean: boolean) => rawConnectMqtt(port, { clientId: 'DVES_A1B2C3', clean, username: name, password: secrets[name] });

    const first = await plug('plug-1', false);
    raw.push(first.client);
    expect(first.returnCode).toBe(0);
    await first.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'cmnd/tasmota_A1B2C3/#', qos: 1 }] });
    await first.client.next((p) => p.cmd === 'suback', 'SUBACK');
    // Connected: plug-2 may not take the id over.
    const taking = await plug('plug-2', false);
    raw.push(taking.client);
    expect(taking.returnCode, 'plug-2 as DVES_A1B2C3 while plug-1 is connected').toBe(2);
    expect(first.client.isClosed()).toBe(false);

    // Away: its session (and what is queued for it) stays plug-1's.
    await first.client.send({ cmd: 'disconnect' });
    await first.client.closed;
    const ops = await connect(gw.mqttUrl, { username: 'ops', password: secrets['ops'], clientId: 'ops' });
    open.push(ops);
    await ops.publishAsync('cmnd/tasmota_A1B2C3/POWER', 'ON', { qos: 1 });
    for (const clean of [false, true]) {
      const away = await plug('plug-2', clean);
      raw.push(away.client);
      expect(away.returnCode, `plug-2 as DVES_A1B2C3 (clean=${clean}) while plug-1 is away`).toBe(2);
      expect(away.sessionPresent).toBe(false);
    }

    const back = await plug('plug-1', false);
    raw.push(back.client);
    expect(back.returnCode).toBe(0);
    expect(back.sessionPresent).toBe(true);
    const command = await back.client.next((p) => p.cmd === 'publish' && p.topic === 'cmnd/tasmota_A1B2C3/POWER', 'the queued POWER');
    expect(command.cmd === 'publish' && command.payload.toString()).toBe('ON');

    // The same credential takes over its own connection, as MQTT says.
    const again = await plug('plug-1', false);
    raw.push(again.client);
    expect(again.returnCode).toBe(0);
    await back.client.closed;

    const who = { name: 'ops', secret: secrets['ops']! };
    expect(await metricAs(gw.httpUrl, 'gateway_refusals_total', { reason: 'client_id_taken' }, who)).toBe(3);
    const line = gw.logs.find((l) => l['reason'] === 'client_id_taken');
    expect(String(line?.['msg'] ?? '') + JSON.stringify(line)).toContain('plug-1');
  });
});

describe('client ids held across a restart', () => {
  it('a persistent session restored from the snapshot stays its credential’s: another plug is refused its id', async () => {
    const dataDir = await tempDir();
    const secrets = await addCredentials(dataDir, CREDENTIALS);
    gw = await startGateway({ dataDir, rulesDir: SIMPLE_RULES });
    const plug = (name: 'plug-1' | 'plug-2') => rawConnectMqtt(gw!.running.ports.mqtt, { clientId: 'DVES_A1B2C3', clean: false, username: name, password: secrets[name] });
    const first = await plug('plug-1');
    await first.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'cmnd/tasmota_A1B2C3/#', qos: 1 }] });
    await first.client.next((p) => p.cmd === 'suback', 'SUBACK');
    await first.client.send({ cmd: 'disconnect' });
    await first.client.closed;
    await gw.stop();
    gw = await startGateway({ dataDir, rulesDir: SIMPLE_RULES });
    const other = await plug('plug-2');
    raw.push(other.client);
    expect(other.returnCode, 'plug-2 as DVES_A1B2C3 after the restart').toBe(2);
    const back = await plug('plug-1');
    raw.push(back.client);
    expect([back.returnCode, back.sessionPresent]).toEqual([0, true]);
  });
});

describe('a credential that may use many client ids', () => {
  it('holds at most MQTT_MAX_CONNECTIONS_PER_CREDENTIAL connections: one plug cannot fill MAX_CONNECTIONS', async () => {
    const { gw, secrets } = await start({ MAX_CONNECTIONS: '10', MQTT_MAX_CONNECTIONS_PER_CREDENTIAL: '4' });
    const port = gw.running.ports.mqtt;
    const codes: number[] = [];
    for (let i = 0; i < 9; i++) {
      const c = await rawConnectMqtt(port, { clientId: `DVES_x${i}`, username: 'plug-1', password: secrets['plug-1'] });
      raw.push(c.client);
      codes.push(c.returnCode);
    }
    expect(codes).toEqual([0, 0, 0, 0, 3, 3, 3, 3, 3]);
    // Its own id again replaces a connection, at its limit too.
    const own = await rawConnectMqtt(port, { clientId: 'DVES_x0', username: 'plug-1', password: secrets['plug-1'] });
    raw.push(own.client);
    expect(own.returnCode).toBe(0);
    // Everyone else still gets in.
    expect(await connackCode(gw.mqttUrl, { username: 't-101', password: secrets['t-101'], clientId: 't-101' })).toBe(0);
    const who = { name: 'ops', secret: secrets['ops']! };
    expect(await metricAs(gw.httpUrl, 'gateway_refusals_total', { reason: 'credential_connections' }, who)).toBe(5);
  });

  it('keeps at most MQTT_MAX_AWAY_SESSIONS_PER_CREDENTIAL sessions away: its own oldest goes, not an actuator’s', async () => {
    const { gw, secrets } = await start({ MQTT_MAX_AWAY_SESSIONS: '10', MQTT_MAX_AWAY_SESSIONS_PER_CREDENTIAL: '3' });
    const port = gw.running.ports.mqtt;
    const hvac = await connect(gw.mqttUrl, { username: 'hvac-f1', password: secrets['hvac-f1'], clientId: 'hvac-f1', clean: false });
    await hvac.subscribeAsync('commands/hq/f1/#', { qos: 1 });
    await hvac.endAsync();
    for (let i = 0; i < 15; i++) {
      const c = await rawConnectMqtt(port, { clientId: `DVES_y${i}`, clean: false, username: 'plug-1', password: secrets['plug-1'] });
      expect(c.returnCode).toBe(0);
      await c.client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'cmnd/tasmota_A1B2C3/#', qos: 1 }] });
      await c.client.next((p) => p.cmd === 'suback', 'SUBACK');
      await c.client.send({ cmd: 'disconnect' });
      await c.client.closed;
    }
    const who = { name: 'ops', secret: secrets['ops']! };
    await waitFor(async () => (await metricAs(gw.httpUrl, 'gateway_sessions_evicted_total', { reason: 'credential_away_sessions' }, who)) === 12, 'plug-1’s 12 oldest sessions evicted');
    const back = await rawConnectMqtt(port, { clientId: 'hvac-f1', clean: false, username: 'hvac-f1', password: secrets['hvac-f1'] });
    raw.push(back.client);
    expect(back.sessionPresent, 'the actuator’s session kept').toBe(true);
    expect(await metricAs(gw.httpUrl, 'gateway_sessions_evicted_total', { reason: 'away_sessions' }, who)).toBe(0);
    const newest = await rawConnectMqtt(port, { clientId: 'DVES_y14', clean: false, username: 'plug-1', password: secrets['plug-1'] });
    raw.push(newest.client);
    expect(newest.sessionPresent, 'plug-1’s newest session kept').toBe(true);
  });
});
