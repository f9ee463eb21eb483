/**
 * Issue 15, situation 5 — client id takeover. Only a credential that names a device reserves a
 * client id (clientIdAllowed in gateway/broker/acl.ts); the README's actuator credential
 * (`add hvac-f1 --role actuator …`, no --device) does not. So the read-only `grafana`
 * credential can connect as `hvac-f1`: Aedes closes the actuator's connection ([MQTT-3.1.4-2])
 * and the observer receives the HVAC commands in its place.
 *
 * Wanted: every credential's name is a reserved client id, whatever the role; a client that
 * tries to take one is refused with CONNACK 2 (identifier rejected) and the owner keeps its
 * connection and its commands.
 */
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { metricAs } from '../helpers/abuse.js';
import { addCredentials, connackCode } from '../helpers/auth.js';
import { SIMPLE_RULES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { collect, connect } from '../helpers/mqtt.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

let gw: TestGateway | undefined;
// Registered before the afterEach below, so it runs after it (hooks run last first): the gateway stops before its DATA_DIR goes.
const tempDir = useTempDirs('gw-abuse-ids-');
const open: MqttClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.end(true);
  await gw?.stop();
  gw = undefined;
});

describe('client ids', () => {
  it("are reserved for every credential: nobody takes the actuator's id, and the actuator keeps its commands", async () => {
    const dataDir = await tempDir();
    // As in the README: an actuator credential that names no device.
    const secrets = await addCredentials(dataDir, [
      { name: 'hvac-f1', role: 'actuator', site: 'hq', zone: 'f1' },
      { name: 'grafana', role: 'observer' },
      { name: 't-1', role: 'device', device: 't-1', site: 'hq', zone: 'f1' },
      { name: 'ops', role: 'admin' },
    ]);
    gw = await startGateway({ dataDir, rulesDir: SIMPLE_RULES });
    const as = async (name: string, clientId = name): Promise<MqttClient> => {
      const c = await connect(gw!.mqttUrl, { username: name, password: secrets[name], clientId });
      open.push(c);
      return c;
    };

    const hvac = await as('hvac-f1');
    const commands = await collect(hvac, 'commands/hq/f1/#');
    let hvacClosed = false;
    hvac.on('close', () => (hvacClosed = true));

    // The observer, a device and an admin each try to connect as the actuator.
    expect(await connackCode(gw.mqttUrl, { username: 'grafana', password: secrets['grafana'], clientId: 'hvac-f1' }), 'grafana (observer) as hvac-f1').toBe(2);
    expect(await connackCode(gw.mqttUrl, { username: 't-1', password: secrets['t-1'], clientId: 'hvac-f1' }), 't-1 (device) as hvac-f1').toBe(2);
    expect(await connackCode(gw.mqttUrl, { username: 'ops', password: secrets['ops'], clientId: 'hvac-f1' }), 'ops (admin) as hvac-f1').toBe(2);
    // And the observer as the admin, whose name is a client id as reserved as any.
    expect(await connackCode(gw.mqttUrl, { username: 'grafana', password: secrets['grafana'], clientId: 'ops' }), 'grafana as ops').toBe(2);

    // A hot reading: its command reaches the actuator, which never lost its connection.
    const ops = await as('ops');
    await ops.publishAsync('sensors/hq/f1/t-9/temperature', JSON.stringify({ value: 31, id: 'hot-after-takeover' }), { qos: 1 });
    const command = await commands.next((m) => m.json()['correlationid'] === 'hot-after-takeover');
    expect(command.topic).toBe('commands/hq/f1/hvac');
    expect(hvacClosed).toBe(false);
    expect(await metricAs(gw.httpUrl, 'gateway_refusals_total', { reason: 'client_id_mismatch' }, { name: 'ops', secret: secrets['ops']! })).toBe(4);
  });
});
