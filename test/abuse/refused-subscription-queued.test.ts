/**
 * Found while researching issue 15 (not one of its ten situations; see docs/findings-15.md):
 * a subscription refused with SUBACK 0x80 is stored for a persistent session all the same, and
 * the offline queue then hands the refused topic's messages to the client when it comes back.
 *
 * Aedes 1.2 (lib/handlers/subscribe.js, storeSubscriptions) stores `packet.subscriptions`,
 * every filter of the SUBSCRIBE packet, once for each filter that was authorised; refused ones
 * included. While the client is away, enqueueOffline (aedes.js) matches messages against those
 * stored filters, and on its return emptyQueue (lib/handlers/connect.js) writes them out; the
 * gateway defines no authorizeForward to stop them. (The same line makes one SUBSCRIBE of k
 * filters cost k² trie insertions, synchronously: 2,000 filters took ~4 s of the event loop.)
 */
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { addCredentials, subscribeCodes } from '../helpers/auth.js';
import { SIMPLE_RULES, startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { useTempDirs } from '../helpers/temp-dirs.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway | undefined;
// Registered before the afterEach below, so it runs after it (hooks run last first): the gateway stops before its DATA_DIR goes.
const tempDir = useTempDirs('gw-abuse-acl-');
const open: mqtt.MqttClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.end(true);
  await gw?.stop();
  gw = undefined;
});

describe('a subscription refused to a persistent session', () => {
  it('never delivers the refused topic, not even from the offline queue', async () => {
    const dataDir = await tempDir();
    const secrets = await addCredentials(dataDir, [
      { name: 't-a', role: 'device', device: 't-a', site: 'hq', zone: 'f1' },
      { name: 'ops', role: 'admin' },
    ]);
    gw = await startGateway({ dataDir, rulesDir: SIMPLE_RULES, env: { BIND_HOST: '127.0.0.1' } });

    // A device may subscribe to its zone's commands, not to everyone's readings.
    const device = await connect(gw.mqttUrl, { username: 't-a', password: secrets['t-a'], clientId: 't-a', clean: false });
    expect(await subscribeCodes(device, ['commands/hq/f1/#', 'sensors/#'])).toEqual([1, 128]);
    await device.endAsync();

    // While it is away: another zone's reading, then a hot reading in its own zone (whose command it may have).
    const ops = await connect(gw.mqttUrl, { username: 'ops', password: secrets['ops'], clientId: 'ops' });
    open.push(ops);
    await ops.publishAsync('sensors/hq/f2/t-b/temperature', JSON.stringify({ value: 21, id: 'other-zone' }), { qos: 1 });
    await ops.publishAsync('sensors/hq/f1/t-x/temperature', JSON.stringify({ value: 31, id: 'own-zone-hot' }), { qos: 1 });

    // Back (listening before CONNACK): the queue comes in the order it was filled, so the command is the marker.
    const topics: string[] = [];
    const back = mqtt.connect(gw.mqttUrl, { username: 't-a', password: secrets['t-a'], clientId: 't-a', clean: false, reconnectPeriod: 0 });
    open.push(back);
    back.on('message', (topic) => topics.push(topic));
    await waitFor(() => topics.includes('commands/hq/f1/hvac'), 'its own zone’s command');
    expect(topics.filter((t) => t.startsWith('sensors/'))).toEqual([]);
  });
});
