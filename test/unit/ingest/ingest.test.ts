/**
 * Ingest on the ManualClock with the store and the publisher faked: what each topic becomes,
 * history against current, and when a publish is acknowledged (the promise `handle` returns).
 * Readings here always carry a `ts` and distinct content: how duplicates are recognised and how
 * readings without `ts` are stamped is issue 14's to change.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EventBus, type EventMap } from '../../../gateway/core/bus.js';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import type { IncomingPublish } from '../../../gateway/broker/publish-pipeline.js';
import { Ingest } from '../../../gateway/ingest/ingest.js';
import { captureLogs } from '../../helpers/gateway.js';
import { RecordingPublisher, RecordingStore, count, drained, stateOf, testMetrics } from '../../helpers/ports.js';

const START = Date.parse('2026-11-27T10:00:00.000Z');
const STALE_AFTER_MS = 300_000;

function setup(o: { durableAck?: boolean } = {}) {
  const clock = new ManualClock(START);
  const { lines, stream } = captureLogs();
  const log = pino({ level: 'debug' }, stream);
  const store = new RecordingStore();
  const publisher = new RecordingPublisher();
  const bus = new EventBus(log);
  const metrics = testMetrics(clock);
  const ingest = new Ingest({ store, bus, metrics, publisher, clock, log, maxPayloadBytes: 1024, staleAfterMs: STALE_AFTER_MS, durableAck: o.durableAck ?? true });
  const seen: { name: keyof EventMap; event: EventMap[keyof EventMap] }[] = [];
  for (const name of ['reading', 'history', 'deadletter', 'deviceStatus', 'zoneArmed'] as const) bus.on(name, (event) => void seen.push({ name, event }));
  /** A QoS 0 publish: acknowledged at once, whatever becomes of it. */
  const send = (clientId: string, topic: string, payload: string | object): void => expect(ingest.handle(clientId, publish(topic, payload))).toBeUndefined();
  return { clock, lines, store, publisher, bus, metrics, ingest, seen, send };
}

const publish = (topic: string, payload: string | object, qos: 0 | 1 = 0, messageId?: number): IncomingPublish => ({
  topic,
  payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
  qos,
  dup: false,
  messageId: qos > 0 ? (messageId ?? 1) : undefined,
});

const iso = (ms: number) => new Date(ms).toISOString();

describe('Ingest: what each topic becomes', () => {
  it('keeps a reading, then announces it to the rules as current', async () => {
    const { ingest, store, seen, metrics } = setup();
    expect(ingest.handle('t-101', publish('sensors/hq/f1/t-101/temperature', { value: 21.5, ts: iso(START - 1000), seq: 7 }))).toBeUndefined();
    const [reading] = store.events('reading');
    expect(reading).toMatchObject({
      type: 'sensor.temperature',
      source: 'hq/f1/t-101',
      site: 'hq',
      zone: 'f1',
      device: 't-101',
      kind: 'temperature',
      value: 21.5,
      numeric: 21.5,
      seq: 7,
      timeMs: START - 1000,
      time: iso(START - 1000),
      receivedAt: iso(START),
      clientId: 't-101',
    });
    expect(seen).toEqual([{ name: 'reading', event: reading }]);
    expect(await count(metrics, 'gateway_readings_total', { kind: 'temperature' })).toBe(1);
  });

  it('stores booleans and keypad codes as the numbers InfluxDB holds', () => {
    const { send, store } = setup();
    send('m-1', 'sensors/hq/f1/m-1/motion', { value: true, ts: START });
    send('k-1', 'sensors/hq/f1/k-1/keypad', { value: 'fail', ts: START });
    expect(store.events('reading').map((r) => [r.kind, r.value, r.numeric])).toEqual([
      ['motion', true, 1],
      ['keypad', 'fail', 0],
    ]);
  });

  it.each([
    ['online', true],
    ['offline', false],
    ['"online"', true],
    ['0', false],
  ])('keeps and announces a device status %s', (payload, online) => {
    const { send, store, seen } = setup();
    send('t-101', 'devices/t-101/status', payload);
    const [status] = store.events('deviceStatus');
    expect(status).toMatchObject({ device: 't-101', online, timeMs: START, time: iso(START), clientId: 't-101' });
    expect(seen).toEqual([{ name: 'deviceStatus', event: status }]);
  });

  it.each([
    ['armed', true],
    ['true', true],
    ['disarmed', false],
    ['off', false],
    // What POST /api/zones/…/armed takes too (an outside tester found MQTT refusing it).
    ['{"armed": true}', true],
    [' {"armed":false} ', false],
  ])('keeps and announces a zone armed state %s', (payload, armed) => {
    const { send, store, seen } = setup();
    send('ops', 'zones/hq/f1/armed', payload);
    const [zone] = store.events('zoneArmed');
    expect(zone).toMatchObject({ site: 'hq', zone: 'f1', armed, timeMs: START });
    expect(seen).toEqual([{ name: 'zoneArmed', event: zone }]);
  });

  it.each(['commands/hq/f1/hvac', 'alerts/hq/critical', 'gateway/deadletter'])('leaves %s alone: the gateway publishes there itself', (topic) => {
    const { ingest, store, seen, publisher } = setup();
    expect(ingest.handle('ops', publish(topic, '{"x":1}', 1))).toBeUndefined();
    expect(store.kept).toEqual([]);
    expect(seen).toEqual([]);
    expect(publisher.published).toEqual([]);
  });

  it.each([
    ['sensors/hq/f1/t-101', '21', 'invalid_topic', 'expected sensors/<site>/<zone>/<device>/<kind> (5 segments), got 4'],
    ['sensors/hq/f 1/t-101/temperature', '21', 'invalid_topic', 'zone segment "f 1" must match'],
    ['sensors/hq/f1/t-101/radiation', '21', 'unknown_kind', 'unknown kind "radiation"'],
    ['weather/hq/now', '21', 'unknown_topic', 'topic root "weather" is not one of sensors/, devices/, zones/'],
    ['devices/t-101/battery', 'online', 'invalid_topic', 'expected devices/<device>/status or devices/<device>/state'],
    ['devices/t-101/state', 'online', 'invalid_json', 'an actuator state is not JSON'],
    ['devices/t-101/state', '[1,2]', 'invalid_payload', 'an actuator state must be a JSON object'],
    ['devices/t-101/state', '{"mode":"cool"}', 'unknown_actuator', 'this gateway knows no actuators'],
    ['alarms/hq/0190a1b2-c3d4/ack', '', 'unknown_alarm', 'no alarm 0190a1b2-c3d4 in site hq is known'],
    ['alarms/hq/x/ack', '{"by":7}', 'invalid_payload', 'an acknowledgement is empty or {"by"'],
    ['devices/t-101/status', 'sleeping', 'invalid_payload', 'device status must be "online" or "offline"'],
    ['zones/hq/f1/armed', 'maybe', 'invalid_payload', 'zone armed state must be true/false'],
    ['sensors/hq/f1/t-101/temperature', '{"value":', 'invalid_json', 'payload is not JSON'],
    ['sensors/hq/f1/t-101/temperature', '{"value":"warm"}', 'invalid_payload', 'value must be number for temperature (°C), got "warm"'],
    ['sensors/hq/f1/t-101/temperature', '{"value":900}', 'invalid_payload', 'value must be <= 200'],
    ['sensors/hq/f1/t-101/temperature', `{"value":21,"ts":"${iso(START + 3_600_000)}"}`, 'clock_skew', '3600 s in the future'],
    ['sensors/hq/f1/t-101/temperature', `{"value":21,"pad":"${'x'.repeat(2000)}"}`, 'payload_too_large', 'the limit is 1024'],
    ['devices/t-101/status', `online${' '.repeat(2000)}`, 'payload_too_large', 'a device status is 2006 bytes, more than MAX_PAYLOAD_BYTES (1024)'],
    ['zones/hq/f1/armed', `${' '.repeat(2000)}true`, 'payload_too_large', 'a zone armed state is 2004 bytes, more than MAX_PAYLOAD_BYTES (1024)'],
    ['alarms/hq/x/ack', ' '.repeat(2000), 'payload_too_large', 'an acknowledgement is 2000 bytes, more than MAX_PAYLOAD_BYTES (1024)'],
  ])('dead-letters %s ← %s as %s, saying what is wrong', async (topic, payload, reason, detail) => {
    const { ingest, store, seen, publisher, metrics, lines } = setup();
    expect(ingest.handle('dev-x', publish(topic, payload))).toBeUndefined();
    const [dead] = store.events('deadletter');
    expect(dead).toMatchObject({ topic, reason, clientId: 'dev-x', timeMs: START, receivedAt: iso(START) });
    expect(dead?.detail).toContain(detail);
    expect(dead?.payload).toBe(payload);
    expect(seen).toEqual([{ name: 'deadletter', event: dead }]);
    // On gateway/deadletter too, as DESIGN.md describes it, for whoever watches.
    expect(publisher.published.map((p) => [p.topic, p.qos])).toEqual([['gateway/deadletter', 0]]);
    expect(publisher.json('gateway/deadletter')[0]).toEqual({ topic, payload, reason, detail: dead?.detail, receivedAt: iso(START), clientId: 'dev-x', id: dead?.id });
    expect(await count(metrics, 'gateway_deadletters_total', { reason })).toBe(1);
    expect(lines.find((l) => l.msg === 'dead letter')).toMatchObject({ reason, topic, eventId: dead?.id });
    expect(store.events('reading')).toEqual([]);
  });

  it('keeps a binary payload in a dead letter as base64', () => {
    const { ingest, store } = setup();
    expect(ingest.handle('dev-x', { topic: 'sensors/hq/f1/t-101/temperature', payload: Buffer.from([0xff, 0xfe, 0x00]), qos: 0, dup: false })).toBeUndefined();
    const [dead] = store.events('deadletter');
    expect(dead).toMatchObject({ reason: 'invalid_encoding', payload: `base64:${Buffer.from([0xff, 0xfe, 0x00]).toString('base64')}` });
  });
});

describe('Ingest: history and current', () => {
  const topic = 'sensors/hq/f1/t-101/temperature';

  it('files a reading older than the device’s latest as history: kept, counted, not announced as current', async () => {
    const { send, store, seen, metrics } = setup();
    send('t-101', topic, { value: 21, ts: START - 1_000 });
    send('t-101', topic, { value: 22, ts: START - 5_000 });
    send('t-101', topic, { value: 23, ts: START - 500 });
    expect(seen.map((s) => [s.name, (s.event as ReadingEvent).value])).toEqual([
      ['reading', 21],
      ['history', 22],
      ['reading', 23],
    ]);
    expect(store.events('reading').map((r) => r.value)).toEqual([21, 22, 23]);
    expect(await count(metrics, 'gateway_history_readings_total', { kind: 'temperature' })).toBe(1);
    expect(await count(metrics, 'gateway_readings_total')).toBe(3);
  });

  it('judges the latest per device and kind: another device or kind is not history', () => {
    const { send, seen } = setup();
    send('t-101', topic, { value: 21, ts: START - 1_000 });
    send('t-102', 'sensors/hq/f1/t-102/temperature', { value: 22, ts: START - 5_000 });
    send('t-101', 'sensors/hq/f1/t-101/humidity', { value: 40, ts: START - 5_000 });
    expect(seen.map((s) => s.name)).toEqual(['reading', 'reading', 'reading']);
  });

  it('files a reading older than STALE_AFTER_MS as history, even the first of its device', () => {
    const { send, seen, clock } = setup();
    send('t-101', topic, { value: 21, ts: START - STALE_AFTER_MS - 1 });
    send('t-101', topic, { value: 22, ts: START - STALE_AFTER_MS + 1 });
    expect(seen.map((s) => s.name)).toEqual(['history', 'reading']);
    // Staleness is judged by the gateway's clock at arrival.
    clock.advanceBy(10_000);
    send('t-102', 'sensors/hq/f1/t-102/temperature', { value: 23, ts: START - STALE_AFTER_MS + 1 });
    expect(seen.at(-1)?.name).toBe('history');
  });
});

describe('Ingest: when a publish is acknowledged', () => {
  const topic = 'sensors/hq/f1/t-101/temperature';

  it('acknowledges QoS 0 at once, without waiting for the store', () => {
    const { ingest, store } = setup();
    expect(ingest.handle('t-101', publish(topic, { value: 21, ts: START }, 0))).toBeUndefined();
    expect(store.waitingCommits).toBe(0);
  });

  it('holds a QoS 1 acknowledgement until the store says the event is durable (DURABLE_ACK)', async () => {
    const { ingest, store, seen } = setup();
    const ack = ingest.handle('t-101', publish(topic, { value: 21, ts: START }, 1));
    expect(ack).toBeInstanceOf(Promise);
    // Kept and announced at once: the rules do not wait for the disk.
    expect(store.events('reading')).toHaveLength(1);
    expect(seen.map((s) => s.name)).toEqual(['reading']);
    expect(store.waitingCommits).toBe(1);
    expect(await stateOf(ack!)).toBe('pending');
    store.commit();
    expect(await stateOf(ack!)).toBe('resolved');
  });

  it('holds every kind of event for the store, status, zone state and dead letters too', async () => {
    const { ingest, store } = setup();
    const acks = [
      ingest.handle('t-101', publish('devices/t-101/status', 'online', 1, 1)),
      ingest.handle('ops', publish('zones/hq/f1/armed', 'armed', 1, 2)),
      ingest.handle('t-101', publish(topic, '{"value":"warm"}', 1, 3)),
    ];
    expect(store.kept.map((k) => k.name)).toEqual(['deviceStatus', 'zoneArmed', 'deadletter']);
    expect(await Promise.all(acks.map((a) => stateOf(a!)))).toEqual(['pending', 'pending', 'pending']);
    store.commit();
    expect(await Promise.all(acks.map((a) => stateOf(a!)))).toEqual(['resolved', 'resolved', 'resolved']);
  });

  it('acknowledges QoS 1 once kept when DURABLE_ACK is off', () => {
    const { ingest, store } = setup({ durableAck: false });
    expect(ingest.handle('t-101', publish(topic, { value: 21, ts: START }, 1))).toBeUndefined();
    expect(store.events('reading')).toHaveLength(1);
    expect(store.waitingCommits).toBe(0);
  });
});

describe('Ingest: with the store full', () => {
  const topic = 'sensors/hq/f1/smoke-1/smoke';

  it('drops a QoS 0 event (counted, logged) but still announces it to the rules', async () => {
    const { ingest, store, seen, metrics, lines } = setup();
    store.full = true;
    expect(ingest.handle('smoke-1', publish(topic, { value: true, ts: START }, 0))).toBeUndefined();
    expect(store.kept).toEqual([]);
    expect(seen.map((s) => [s.name, (s.event as ReadingEvent).value])).toEqual([['reading', true]]);
    expect(await count(metrics, 'gateway_dropped_total', { reason: 'spool_full' })).toBe(1);
    expect(lines.find((l) => l['code'] === 'GW_ERR_SPOOL_FULL')?.level).toBe(50);
    expect(store.waitingForSpace).toBe(0);
  });

  it('announces a QoS 1 event at once, and acknowledges it only once there is room and it is durable', async () => {
    const { ingest, store, seen, metrics } = setup();
    store.full = true;
    const ack = ingest.handle('smoke-1', publish(topic, { value: true, ts: START }, 1))!;
    expect(seen.map((s) => s.name)).toEqual(['reading']);
    expect(store.kept).toEqual([]);
    expect(store.waitingForSpace).toBe(1);
    expect(await stateOf(ack)).toBe('pending');

    // Room that is taken again before the event gets it: it waits on.
    store.makeRoom(true);
    await drained();
    expect(store.kept).toEqual([]);
    expect(store.waitingForSpace).toBe(1);
    expect(await stateOf(ack)).toBe('pending');

    store.makeRoom();
    await drained();
    expect(store.events('reading').map((r) => r.value)).toEqual([true]);
    expect(await stateOf(ack)).toBe('pending');
    store.commit();
    expect(await stateOf(ack)).toBe('resolved');
    // Announced once, not again when finally stored; nothing counted as dropped.
    expect(seen).toHaveLength(1);
    expect(await count(metrics, 'gateway_dropped_total')).toBe(0);
  });

  it('refuses a QoS 1 event that waits for room when the store closes (the gateway is stopping)', async () => {
    const { ingest, store } = setup();
    store.full = true;
    const ack = ingest.handle('smoke-1', publish(topic, { value: true, ts: START }, 1))!;
    store.close();
    await expect(ack).rejects.toThrow('gateway is shutting down');
    expect(store.kept).toEqual([]);
  });

  it('refuses a QoS 1 event at once when the store is closed, and counts it as dropped', async () => {
    const { ingest, store, seen, metrics } = setup();
    store.close();
    const ack = ingest.handle('smoke-1', publish(topic, { value: true, ts: START }, 1));
    await expect(ack).rejects.toThrow('gateway is shutting down');
    expect(seen.map((s) => s.name)).toEqual(['reading']);
    expect(await count(metrics, 'gateway_dropped_total', { reason: 'shutting_down' })).toBe(1);
  });
});

describe('Ingest: its own bugs', () => {
  it('turns an exception while handling a message into an internal_error dead letter, logged as an error', async () => {
    const { ingest, store, seen, publisher, metrics, lines } = setup();
    store.throwOn = { name: 'reading', error: new TypeError('cannot read properties of undefined') };
    const topic = 'sensors/hq/f1/t-101/temperature';
    const payload = JSON.stringify({ value: 21, ts: START });
    const ack = ingest.handle('t-101', { topic, payload: Buffer.from(payload), qos: 1, dup: false, messageId: 9 });
    const [dead] = store.events('deadletter');
    expect(dead).toMatchObject({ topic, payload, reason: 'internal_error', clientId: 't-101' });
    expect(dead?.detail).toBe('the gateway could not process this message: cannot read properties of undefined');
    expect(seen.map((s) => s.name)).toEqual(['deadletter']);
    expect(publisher.json('gateway/deadletter')[0]).toMatchObject({ reason: 'internal_error' });
    expect(await count(metrics, 'gateway_deadletters_total', { reason: 'internal_error' })).toBe(1);
    expect(lines.find((l) => l.msg === 'ingest failed on a message')).toMatchObject({ level: 50, topic, clientId: 't-101', err: { type: 'TypeError' } });
    // The dead letter is what the publisher's acknowledgement waits for: nothing is lost.
    expect(await stateOf(ack!)).toBe('pending');
    store.commit();
    expect(await stateOf(ack!)).toBe('resolved');
  });

  it('never throws at the broker even when the dead letter cannot be kept either: QoS 1 is refused (resent), QoS 0 counted', async () => {
    const { ingest, store, metrics } = setup();
    const error = new Error('EIO: the store is failing');
    const throwing = { name: 'reading' as const, error };
    store.throwOn = throwing;
    const keep = store.keep.bind(store);
    // The dead letter fails too.
    store.keep = (name, event, always) => {
      if (name === 'deadletter') throw error;
      return keep(name, event, always);
    };
    const topic = 'sensors/hq/f1/t-101/temperature';
    let ack: Promise<void> | undefined;
    expect(() => (ack = ingest.handle('t-101', { topic, payload: Buffer.from('{"value":21}'), qos: 1, dup: false, messageId: 3 }))).not.toThrow();
    await expect(ack).rejects.toThrow('EIO');
    expect(() => ingest.handle('t-101', { topic, payload: Buffer.from('{"value":22}'), qos: 0, dup: false })).not.toThrow();
    expect(await count(metrics, 'gateway_dropped_total', { reason: 'internal_error' })).toBe(2);
  });
});

describe('Ingest: what the log says of dead letters', () => {
  it('says a device waiting for a zone once per device (its messages are kept for when it is placed), other dead letters at the usual rate', () => {
    const { ingest, lines, clock } = setup();
    for (let i = 0; i < 30; i++) {
      for (const id of ['plug_a', 'plug_b']) void ingest.deadLetter(null, publish(`zigbee2mqtt/${id}`, { power: i }), 'unassigned_device', `zigbee2mqtt:${id} is waiting for a zone: place it in the device map`, true);
      void ingest.deadLetter('t-1', publish('sensors/hq/f1/t-1/temperature', 'bad'), 'invalid_payload', 'not JSON');
    }
    const said = (reason: string) => lines.filter((l) => l['msg'] === 'dead letter' && l['reason'] === reason);
    expect(said('unassigned_device').map((l) => String(l['detail']).split(' ')[0])).toEqual(['zigbee2mqtt:plug_a', 'zigbee2mqtt:plug_b']);
    expect(said('invalid_payload')).toHaveLength(20);
    // Ten minutes on: one line per device again, with how many were not said; no line of its own for that.
    clock.advanceBy(600_000);
    void ingest.deadLetter(null, publish('zigbee2mqtt/plug_a', { power: 1 }), 'unassigned_device', 'zigbee2mqtt:plug_a is waiting for a zone: place it in the device map', true);
    expect(said('unassigned_device').at(-1)).toMatchObject({ suppressed: 29 });
    expect(lines.filter((l) => String(l['msg']).includes('waiting:'))).toEqual([]);
  });

  it('says waiting devices within the usual rate over all of them: a bridge of 5,000 unplaced devices is not 5,000 lines', () => {
    const { ingest, lines } = setup();
    for (let i = 0; i < 5000; i++) void ingest.deadLetter(null, publish(`zigbee2mqtt/dev${i}`, { power: 1 }), 'unassigned_device', `zigbee2mqtt:dev${i} is waiting for a zone: place it in the device map`, true);
    expect(lines.filter((l) => l['msg'] === 'dead letter' && l['reason'] === 'unassigned_device')).toHaveLength(20);
  });

  it('does not use up a waiting device\'s line when the usual rate left it out: it is said at its next message once there is room', () => {
    const { ingest, lines, clock } = setup();
    const waiting = (id: string) => void ingest.deadLetter(null, publish(`zigbee2mqtt/${id}`, { power: 1 }), 'unassigned_device', `zigbee2mqtt:${id} is waiting for a zone: place it in the device map`, true);
    for (let i = 0; i < 25; i++) waiting(`dev${i}`);
    const said = () => lines.filter((l) => l['msg'] === 'dead letter' && l['reason'] === 'unassigned_device').map((l) => [String(l['detail']).split(' ')[0], l['suppressed']]);
    expect(said()).toHaveLength(20);
    // Ten seconds on (not ten minutes): dev24 was never said, so its next message is, with the one left out.
    clock.advanceBy(10_000);
    waiting('dev24');
    waiting('dev0');
    expect(said().slice(20)).toEqual([['zigbee2mqtt:dev24', 1]]);
  });
});
