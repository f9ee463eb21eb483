/**
 * An empty retained PUBLISH is how MQTT deletes a retained message (`mosquitto_pub -r -n -t
 * devices/x/status`). An outside tester found each one also made an `invalid_payload` dead letter:
 * it is a deletion, not a reading or a status, so it is taken as one, and the retained message
 * is gone for the next subscriber.
 */
import { expect, it } from 'vitest';
import { useCleanup } from '../helpers/cleanup.js';
import { startGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

const { defer } = useCleanup();

it('takes an empty retained publish as the deletion it is: no dead letter, nothing retained after', async () => {
  const gw = await startGateway();
  defer(() => gw.stop());
  const device = await connect(gw.mqttUrl, { clientId: 'dev-rc' });
  defer(() => device.endAsync(true));
  await device.publishAsync('devices/dev-rc/status', 'online', { qos: 1, retain: true });
  await device.publishAsync('devices/dev-rc/status', '', { qos: 1, retain: true });
  await device.publishAsync('sensors/hq/f1/dev-rc/temperature', '', { qos: 1, retain: true });

  const late = await connect(gw.mqttUrl, { clientId: 'late-rc' });
  defer(() => late.endAsync(true));
  const retained: string[] = [];
  late.on('message', (topic, _payload, packet) => void (packet.retain && retained.push(topic)));
  await late.subscribeAsync(['devices/+/status', 'sensors/#'], { qos: 1 });
  // A marker through the same path: once it arrives, anything retained would have come first.
  await device.publishAsync('devices/marker-rc/status', 'online', { qos: 1 });
  const seen: string[] = [];
  late.on('message', (topic) => void seen.push(topic));
  await waitFor(() => seen.includes('devices/marker-rc/status'), 'the marker');
  expect(retained).toEqual([]);
  const metrics = await scrape(gw.httpUrl);
  expect(metrics.families.has('gateway_deadletters_total') ? metrics.value('gateway_deadletters_total') : 0).toBe(0);
  expect(metrics.value('gateway_retained_cleared_total')).toBe(2);
});
