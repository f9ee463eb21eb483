/**
 * Injection-proof storage against the real InfluxDB: string fields holding commas, spaces,
 * equals signs, quotes, backslashes, newlines and any unicode come back exactly as sent, and a
 * payload shaped like line protocol cannot add a point. Tags follow the documented policy.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { line } from '../../gateway/storage/line.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { count, query, rows, uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';
import { HOSTILE, hostileString } from '../fuzz/arbitraries.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw?.stop();
});

const HOSTILE_VALUES = [
  'a,b c=d',
  'say "hi" and \'bye\'',
  'back\\slash \\" \\\\ and a trailing backslash\\',
  'line one\nline two\r\nline three\r',
  'tab\there, nul\u0000there',
  'é ü ß 漢字 🙂 \u2028 \ufeff',
  '=,= ,"\\',
  // Shaped like line protocol: must stay one string, never become a second point.
  'x" 1\ndeadletters,reason=injected payload="pwned",event_id="pwned" 1\n',
  HOSTILE.join(''),
];

describe('hostile values over MQTT', () => {
  it('stores payloads, topics, client ids and reading ids with every hostile character exactly, and adds no point', async () => {
    const clientId = 'dev,1 x="y"\\\n🙂';
    const device = await connect(gw.mqttUrl, { clientId });
    for (const [i, v] of HOSTILE_VALUES.entries()) {
      // Not JSON: an invalid_json dead letter keeping the payload as a string field.
      await device.publishAsync('sensors/hq/inj/d1/temperature', v, { qos: 1 });
      // A topic that breaks the contract: an invalid_topic dead letter keeping the topic (MQTT forbids +, # and NUL in it).
      await device.publishAsync(`sensors/hq/inj/${v.replace(/[+#\u0000]/g, '')}/temperature`, `{"value":${i}}`, { qos: 1 });
      // A good reading whose id is hostile: event_id is a string field.
      await device.publishAsync('sensors/hq/inj/d1/humidity', JSON.stringify({ value: i, id: v.slice(0, 128) }), { qos: 1 });
    }
    await device.endAsync();
    const n = HOSTILE_VALUES.length;
    await waitFor(async () => (await count(gw.influxUrl, gw.db, 'deadletters')) >= 2 * n && (await count(gw.influxUrl, gw.db, 'humidity')) >= n, 'every point in InfluxDB');

    const letters = await rows(gw.influxUrl, gw.db, 'SELECT payload, topic, client_id, reason FROM deadletters');
    expect(letters).toHaveLength(2 * n);
    expect(letters.filter((l) => l['reason'] === 'invalid_json').map((l) => l['payload'])).toEqual(HOSTILE_VALUES);
    expect(letters.filter((l) => l['reason'] === 'invalid_topic').map((l) => l['topic'])).toEqual(HOSTILE_VALUES.map((v) => `sensors/hq/inj/${v.replace(/[+#\u0000]/g, '')}/temperature`));
    expect(new Set(letters.map((l) => l['client_id']))).toEqual(new Set([clientId]));
    const ids = await rows(gw.influxUrl, gw.db, 'SELECT event_id FROM humidity');
    expect(ids.map((r) => r['event_id'])).toEqual(HOSTILE_VALUES.map((v) => v.slice(0, 128)));
    const reasons = await query(gw.influxUrl, gw.db, 'SHOW TAG VALUES FROM deadletters WITH KEY = "reason"');
    expect(reasons[0]?.values.map((v) => v[1]).sort()).toEqual(['invalid_json', 'invalid_topic']);
  });
});

describe('any string, property-based, through the gateway', () => {
  it('keeps dead-letter payloads, client ids and reading ids exactly as given (1,500 cases)', async () => {
    const expectedLetters = new Map<string, { payload: string; clientId: string }>();
    const storedIds = new Set<string>();
    const offLetters = gw.gateway.bus.on('deadletter', (e) => {
      if (e.topic === 'inject/any') expectedLetters.set(e.id, { payload: e.payload, clientId: e.clientId ?? '' });
    });
    const offReadings = gw.gateway.bus.on('reading', (e) => {
      if (e.device === 'prop') storedIds.add(e.id);
    });
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), hostileString(30));
    let letters = 0;
    fc.assert(
      fc.property(text, text, (payload, clientId) => {
        const before = expectedLetters.size;
        void gw.gateway.ingest.handle(clientId, { topic: 'inject/any', payload: Buffer.from(payload), qos: 0, dup: false });
        letters++;
        // What the gateway keeps is the payload as UTF-8 text (a lone surrogate cannot be encoded, so it is U+FFFD already in the Buffer).
        const kept = [...expectedLetters.values()].at(-1);
        expect(expectedLetters.size).toBe(before + 1);
        expect(kept).toEqual({ payload: Buffer.from(payload).toString('utf8'), clientId });
        const id = payload.slice(0, 128);
        if (id.length > 0) void gw.gateway.ingest.handle(clientId, { topic: 'sensors/hq/inj/prop/co2', payload: Buffer.from(JSON.stringify({ value: 400, id })), qos: 0, dup: false });
      }),
      { numRuns: 1500 },
    );
    offLetters();
    offReadings();
    const storedLetters = () => rows(gw.influxUrl, gw.db, `SELECT payload, client_id, event_id FROM deadletters WHERE topic = 'inject/any'`);
    await waitFor(async () => (await storedLetters()).length >= letters && (await count(gw.influxUrl, gw.db, 'co2')) >= storedIds.size, 'every point in InfluxDB', 30_000);

    const stored = await storedLetters();
    expect(stored).toHaveLength(letters);
    for (const row of stored) expect({ payload: row['payload'], clientId: row['client_id'] }, String(row['event_id'])).toEqual(expectedLetters.get(String(row['event_id'])));
    const ids = await rows(gw.influxUrl, gw.db, `SELECT event_id FROM co2 WHERE device = 'prop'`);
    expect(new Set(ids.map((r) => r['event_id']))).toEqual(storedIds);
  });
});

describe('tag values (the documented policy)', () => {
  /** What InfluxDB 1.x holds for a tag value the gateway writes: see gateway/storage/line.ts and the README. */
  const storedTag = (v: string): string => (v === '' ? '_' : v.replace(/[\r\n]|\\$/g, (c) => (c === '\\' ? '\\_' : ' ')));

  it('round-trips any tag value except for newline → space, a trailing backslash → \\_ and empty → _ (1,000 cases, real InfluxDB)', async () => {
    const db = uniqueDb('tags');
    await fetch(`${gw.influxUrl}/query?q=${encodeURIComponent(`CREATE DATABASE ${db}`)}`, { method: 'POST' });
    const values = fc.sample(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), hostileString(20)), 1000);
    const body = values.map((v, i) => line('tagtest', { t: v, i: String(i) }, { f: { str: v } }, () => String(1_700_000_000_000 + i))).join('');
    const res = await fetch(`${gw.influxUrl}/write?db=${db}&precision=ms`, { method: 'POST', body });
    expect(res.status, await res.text()).toBe(204);
    const back = await rows(gw.influxUrl, db, 'SELECT t, f, i FROM tagtest');
    expect(back).toHaveLength(values.length);
    for (const row of back) {
      const v = values[Number(row['i'])]!;
      expect(row['f'], JSON.stringify(v)).toBe(v);
      expect(row['t'], JSON.stringify(v)).toBe(storedTag(v));
    }
  });
});
