/**
 * Property-based fuzzing of what devices publish (fast-check): 100,000 topic and payload
 * cases through a real gateway, counted against the real InfluxDB. Every input is either
 * refused by the broker before ingest (reserved topics, limits: shown on real sockets in
 * auth/limits tests), stored, dead-lettered with a reason, or recognised as a duplicate;
 * nothing throws, nothing is logged as an error, nothing is lost.
 *
 * 90,000 cases go straight into the gateway's ingest (what Aedes' authorizePublish hook calls),
 * 10,000 through one real MQTT connection in pipelined batches. Each test has a gateway and a
 * database of its own and checks what it stored itself, so either runs alone (`-t`).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { anonymousPrincipal, canPublish } from '../../gateway/broker/acl.js';
import { topicProblem } from '../../gateway/broker/limits.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';
import { publish } from './arbitraries.js';
import { Outcomes, counterValue, storedPoints } from './outcomes.js';

const IN_PROCESS_CASES = Number(process.env['FUZZ_N'] ?? 90_000);
const SOCKET_BATCHES = 100;
const SOCKET_BATCH = 100;
/** The defaults of MAX_TOPIC_LENGTH and MAX_TOPIC_LEVELS. */
const TOPIC_LIMITS = { maxLength: 512, maxLevels: 8 };
const anonymous = anonymousPrincipal('admin');

/** What the broker refuses before ingest, for the anonymous admin the gateway's default mode gives. */
const refusedByBroker = (topic: string): boolean => !canPublish(anonymous, topic).ok || topicProblem(topic, TOPIC_LIMITS) !== undefined;

/** Every dead-letter reason the README lists for what devices send (not the gateway's own: internal_error). */
const DEVICE_REASONS = /^(invalid_topic|unknown_kind|unknown_topic|payload_too_large|invalid_encoding|invalid_json|invalid_payload|clock_skew|unassigned_device|unknown_actuator|unknown_alarm)$/;

/** Native messages that are not readings (recognised, refused, only unmapped keys): counted, no event. */
async function nativeQuiet(g: TestGateway): Promise<number> {
  const data = await g.gateway.metrics.registry.getSingleMetric('gateway_native_messages_total')?.get();
  return (data?.values ?? []).filter((v) => ['recognised', 'refused', 'unmapped'].includes(String(v.labels['outcome']))).reduce((sum, v) => sum + v.value, 0);
}

/**
 * A gateway of the test's own (its own database and DATA_DIR), with no rules so the point
 * counts are the inputs' alone, and no publish-rate limit (it would only slow the socket part).
 */
async function fuzzGateway(): Promise<{ gw: TestGateway; outcomes: Outcomes }> {
  const rulesDir = await mkdtemp(join(tmpdir(), 'gw-fuzz-rules-'));
  const gw = await startGateway({ rulesDir, env: { LOG_LEVEL: 'error', PUBLISH_RATE: '0' } });
  return { gw, outcomes: new Outcomes(gw.gateway) };
}

/**
 * What every fuzz run ends with: InfluxDB holds exactly the points the events make (each
 * measurement), no store rejections, no errors logged, and every dead letter has a reason the
 * README lists.
 */
async function expectEveryOutcomeStored(gw: TestGateway, outcomes: Outcomes): Promise<void> {
  const expected = outcomes.expected();
  await waitFor(async () => JSON.stringify(await storedPoints(gw.influxUrl, gw.db)) === JSON.stringify(expected), 'InfluxDB to hold every point', 90_000, 250).catch(() => undefined);
  expect(await storedPoints(gw.influxUrl, gw.db)).toEqual(expected);
  expect(outcomes.reasons.get('rejected_by_store')).toBeUndefined();
  // No errors logged (ingest logs its own exceptions as errors before dead-lettering them).
  expect(gw.logs.filter((l) => l.level >= 50)).toEqual([]);
  expect([...outcomes.reasons.keys()].filter((r) => !DEVICE_REASONS.test(r))).toEqual([]);
}

describe('fuzzed publishes', () => {
  it(`in process: ${IN_PROCESS_CASES.toLocaleString('en')} cases, each one outcome (or a duplicate), never a throw, all stored`, async () => {
    const { gw, outcomes } = await fuzzGateway();
    try {
      let inputs = 0;
      let refused = 0;
      let silent = 0;
      fc.assert(
        fc.property(publish, (p) => {
          inputs++;
          if (refusedByBroker(p.topic)) {
            refused++;
            return;
          }
          const before = outcomes.count;
          void gw.gateway.ingest.handle('fuzz', p);
          const produced = outcomes.count - before;
          expect(produced, `${p.topic} ${p.payload.toString()}`).toBeLessThanOrEqual(1);
          if (produced === 0) silent++;
        }),
        { numRuns: IN_PROCESS_CASES },
      );
      expect(inputs).toBeGreaterThanOrEqual(IN_PROCESS_CASES);
      expect(refused).toBeGreaterThan(0);
      // The only inputs without an event are those the gateway counted as duplicates, or as native traffic that is not a reading.
      expect(silent).toBe((await counterValue(gw.gateway, 'gateway_duplicates_total')) + (await nativeQuiet(gw)));
      await expectEveryOutcomeStored(gw, outcomes);
    } finally {
      await gw.stop();
    }
  }, 300_000);

  it(`over a real MQTT connection: ${(SOCKET_BATCHES * SOCKET_BATCH).toLocaleString('en')} cases in pipelined batches, all stored`, async () => {
    const { gw, outcomes } = await fuzzGateway();
    try {
      const client: MqttClient = await connect(gw.mqttUrl, { clientId: 'fuzz-socket' });
      // What an MQTT client can send at all (no wildcards, no NUL, not empty), and the broker lets through.
      const sendable = publish.filter((p) => p.topic.length > 0 && !/[+#\u0000]/.test(p.topic) && p.topic === Buffer.from(p.topic).toString() && !refusedByBroker(p.topic));
      let barrier = 0;
      let inputs = 0;
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(sendable, { minLength: SOCKET_BATCH, maxLength: SOCKET_BATCH }), async (batch) => {
            const before = outcomes.count;
            const duplicatesBefore = await counterValue(gw.gateway, 'gateway_duplicates_total');
            const quietBefore = await nativeQuiet(gw);
            for (const p of batch) client.publish(p.topic, p.payload, { qos: p.qos });
            // The PUBACK of a QoS 1 publish sent after them means the broker has handled them all.
            await client.publishAsync(`devices/fuzz-barrier-${barrier++}/status`, 'online', { qos: 1 });
            inputs += batch.length;
            const duplicates = (await counterValue(gw.gateway, 'gateway_duplicates_total')) - duplicatesBefore + (await nativeQuiet(gw)) - quietBefore;
            expect(outcomes.count - before + duplicates).toBe(batch.length + 1);
          }),
          // No shrinking: each run costs a round trip, and the failing batch is printed whole.
          { numRuns: SOCKET_BATCHES, endOnFailure: true },
        );
      } finally {
        await client.endAsync();
      }
      expect(inputs).toBe(SOCKET_BATCHES * SOCKET_BATCH);
      await expectEveryOutcomeStored(gw, outcomes);
    } finally {
      await gw.stop();
    }
  }, 300_000);
});
