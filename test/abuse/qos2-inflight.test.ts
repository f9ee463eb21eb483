/**
 * Issue 15, situation 1 — QoS 2 without PUBREL. A device credential publishes large QoS 2
 * messages with clean=false and never releases them (no PUBREL), then reconnects and does it
 * again with fresh message ids. Aedes keeps each such packet, payload and all, in its incoming
 * store until PUBREL, and a persistent session keeps them across reconnects: nothing bounds
 * them but the 16-bit message id space (65,535 × 256 kB per client id).
 *
 * Scaled down from the issue (3 × 1,000 × 250 kB): 3 sessions × 300 × 200 kB, ~170 MB never
 * released. Today RSS grows by about as much (~190 MiB measured); a well-behaved client moving
 * the same bytes (PUBREL each) leaves ~10 MiB. Bounded (MQTT_MAX_INFLIGHT_QOS2 /
 * MQTT_MAX_INFLIGHT_QOS2_BYTES per client id, across sessions, see docs/findings-15.md) it
 * stays well under 48 MiB.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mib, MiB, note, rawConnectMqtt, startGatewayProcess, warmUp, type GatewayUnderTest } from '../helpers/abuse.js';
import { connect } from '../helpers/mqtt.js';

let gw: GatewayUnderTest | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

const SESSIONS = 3;
const PER_SESSION = 300;
const PAYLOAD_BYTES = 200_000;
const GROWTH_BOUND = 48 * MiB;

describe('QoS 2 publishes never released (no PUBREL)', () => {
  it('leave the gateway’s memory bounded across persistent sessions with fresh message ids, and the gateway serving', async () => {
    gw = await startGatewayProcess({
      credentials: [
        { name: 't-q2', role: 'device', device: 't-q2', site: 'hq', zone: 'f1' },
        { name: 't-ok', role: 'device', device: 't-ok', site: 'hq', zone: 'f1' },
      ],
    });
    await warmUp(gw);
    const before = await gw.settledRss();
    const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);
    let sent = 0;
    for (let s = 0; s < SESSIONS; s++) {
      const { client, returnCode } = await rawConnectMqtt(gw.ports.mqtt, { clientId: 't-q2', clean: false, username: 't-q2', password: gw.secrets['t-q2']! });
      if (returnCode !== 0) {
        client.destroy();
        break;
      }
      // Fresh ids each session: 1..300, 301..600, 601..900.
      const first = s * PER_SESSION + 1;
      for (let i = 0; i < PER_SESSION && !client.isClosed(); i++) {
        await client.send({ cmd: 'publish', topic: 'sensors/hq/f1/t-q2/temperature', payload, qos: 2, messageId: first + i, retain: false, dup: false });
        sent++;
      }
      // Until every PUBREC is in (each packet is then stored), or the gateway closed the connection.
      await client.next((p) => p.cmd === 'pubrec' && p.messageId === first + PER_SESSION - 1, 'the last PUBREC', 30_000).catch(() => undefined);
      client.destroy();
      await client.closed;
    }
    const after = await gw.settledRss();
    note('qos2 inflight', { before: mib(before), after: mib(after), growth: mib(after - before) });
    expect(after - before, `RSS ${mib(before)} → ${mib(after)} after ${sent} unreleased QoS 2 publishes of ${PAYLOAD_BYTES} bytes`).toBeLessThan(GROWTH_BOUND);

    // Another device is still served, and the limit was counted.
    const ok = await connect(gw.mqttUrl, { username: 't-ok', password: gw.secrets['t-ok'], clientId: 't-ok' });
    await ok.publishAsync('sensors/hq/f1/t-ok/temperature', JSON.stringify({ value: 21, id: 'after-qos2' }), { qos: 1 });
    await ok.endAsync();
    expect(await gw.metric('gateway_refusals_total', { reason: 'inflight_qos2' })).toBeGreaterThanOrEqual(1);
  });
});
