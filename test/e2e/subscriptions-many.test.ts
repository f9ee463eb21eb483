/**
 * Home Assistant on this broker subscribes to each entity's state, availability and attribute
 * topics one by one: a second outside tester's admin client with 162 filters (Tasmota devices
 * × 4 topics, Zigbee2MQTT devices × 2) got SUBACK 0x80 from the 101st on, so those entities would
 * never update. A client that speaks for many devices (admin, observer, bridge) has
 * MQTT_MAX_SUBSCRIPTIONS_MANY; a device keeps MQTT_MAX_SUBSCRIPTIONS.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { addCredentials, subscribeCodes } from '../helpers/auth.js';
import { useCleanup } from '../helpers/cleanup.js';
import { startGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';

const { defer } = useCleanup();

it('grants Home Assistant (an admin credential) its 220 filters, and still holds a device to 100', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-subs-many-'));
  const secrets = await addCredentials(dataDir, [
    { name: 'ha', role: 'admin' },
    { name: 'hvac-1', role: 'actuator', device: 'hvac-1', site: 'hq', zone: 'f1' },
  ]);
  const gw = await startGateway({ dataDir });
  defer(() => gw.stop());
  const ha = await connect(gw.mqttUrl, { username: 'ha', password: secrets['ha'], clientId: 'ha:homeassistant' });
  defer(() => ha.endAsync(true));
  const filters = [
    ...Array.from({ length: 40 }, (_, i) => ['stat/tasmota_%d/RESULT', 'tele/tasmota_%d/STATE', 'tele/tasmota_%d/LWT', 'tele/tasmota_%d/SENSOR'].map((t) => t.replace('%d', String(i)))).flat(),
    ...Array.from({ length: 30 }, (_, i) => [`zigbee2mqtt/dev_${i}`, `zigbee2mqtt/dev_${i}/availability`]).flat(),
  ];
  expect(filters).toHaveLength(220);
  const codes: number[] = [];
  for (let i = 0; i < filters.length; i += 20) codes.push(...(await subscribeCodes(ha, filters.slice(i, i + 20))));
  expect(codes.filter((c) => c === 128)).toEqual([]);

  const actuator = await connect(gw.mqttUrl, { username: 'hvac-1', password: secrets['hvac-1'], clientId: 'hvac-1' });
  defer(() => actuator.endAsync(true));
  const own = Array.from({ length: 101 }, (_, i) => `commands/hq/f1/hvac-${i}`);
  const granted: number[] = [];
  for (let i = 0; i < own.length; i += 20) granted.push(...(await subscribeCodes(actuator, own.slice(i, i + 20))));
  expect(granted.filter((c) => c === 128)).toHaveLength(1);
});
