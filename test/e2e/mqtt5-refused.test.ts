/**
 * An MQTT 5 client (Aedes speaks 3.1.1 and 3.1) is refused at CONNACK; a second outside tester
 * found that refusal neither logged nor counted, though every refusal is. Real clients:
 * Debian's mosquitto_pub and mosquitto_sub with -V 5.
 */
import { expect, it } from 'vitest';
import { metric, run } from '../helpers/auth.js';
import { useCleanup } from '../helpers/cleanup.js';
import { startGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/wait.js';

const { defer } = useCleanup();

it('refuses an MQTT 5 client with a logged reason that says which version to use, and counts it', async () => {
  const gw = await startGateway();
  defer(() => gw.stop());
  const port = String(gw.running.ports.mqtt);
  const pub = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-V', 'mqttv5', '-i', 'v5-pub', '-t', 'sensors/hq/f1/v5/temperature', '-m', '21']);
  expect(pub.code).not.toBe(0);
  const sub = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-V', '5', '-i', 'v5-sub', '-t', '#', '-C', '1', '-W', '3']);
  expect(sub.code).not.toBe(0);
  await waitFor(async () => (await metric(gw.httpUrl, 'gateway_refusals_total', { reason: 'unsupported_protocol' })) === 2, 'both refusals counted');
  expect(gw.logs.find((l) => l['reason'] === 'unsupported_protocol')).toMatchObject({ code: 'GW_ERR_PROTOCOL', detail: expect.stringContaining('3.1.1') });
  // 3.1.1 works, the way out the message names.
  const ok = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-V', 'mqttv311', '-i', 'v311-pub', '-t', 'sensors/hq/f1/v311/temperature', '-m', '21']);
  expect(ok.code).toBe(0);
});
