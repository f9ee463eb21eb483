/**
 * The live page's event stream, read the way a browser's EventSource reads it, against a real
 * gateway with real MQTT devices.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceState, FeedEvent, LiveSnapshot } from '../../gateway/http/live.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { connect } from '../helpers/mqtt.js';
import { scrape } from '../helpers/prometheus.js';
import { openSse, type SseMessage, type SseStream } from '../helpers/sse.js';

interface Update {
  devices: DeviceState[];
  actuators: LiveSnapshot['actuators'];
  armed: LiveSnapshot['armed'];
  events: FeedEvent[];
}

let gw: TestGateway;
let device: MqttClient;
const streams: SseStream[] = [];

beforeAll(async () => {
  gw = await startGateway({ env: { LIVE_PUSH_MS: '20' } });
  device = await connect(gw.mqttUrl, { clientId: 'l-t1' });
});
afterAll(async () => {
  for (const s of streams) s.close();
  await device?.endAsync();
  await gw?.stop();
});

async function stream(): Promise<SseStream> {
  const s = await openSse(`${gw.httpUrl}/live/events`);
  streams.push(s);
  return s;
}
const update = (m: SseMessage): Update | undefined => (m.event === 'update' ? (JSON.parse(m.data) as Update) : undefined);

describe('the live page', () => {
  it('is served at / as one self-contained HTML page that opens the event stream', async () => {
    const res = await fetch(`${gw.httpUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain("new EventSource('live/events')");
    // No build step, no CDN: nothing is loaded from elsewhere.
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)=/);
  });

  it('starts a new viewer with a snapshot of the devices already heard from', async () => {
    await device.publishAsync('devices/l-t1/status', 'online', { qos: 1 });
    await device.publishAsync('sensors/live/z1/l-t1/humidity', JSON.stringify({ value: 41.5, id: 'l-h1' }), { qos: 1 });
    const s = await stream();
    const first = await s.next(() => true, 'a first message');
    expect(first.event).toBe('snapshot');
    const snapshot = JSON.parse(first.data) as LiveSnapshot;
    expect(snapshot.devices.find((d) => d.device === 'l-t1')).toMatchObject({ site: 'live', zone: 'z1', online: true, readings: { humidity: { value: 41.5 } } });
    const state = (await (await fetch(`${gw.httpUrl}/live/state`)).json()) as LiveSnapshot;
    expect(state.devices.map((d) => d.device)).toContain('l-t1');
  });

  it('pushes a reading, and the command and alert it causes, as they happen', async () => {
    const s = await stream();
    await s.next((m) => m.event === 'snapshot', 'the snapshot');
    await device.publishAsync('sensors/live/z1/l-t1/temperature', JSON.stringify({ value: 30.5, id: 'l-hot' }), { qos: 1 });
    const reading = await s.next((m) => update(m)?.devices.some((d) => d.readings['temperature']?.value === 30.5) === true, 'the reading');
    expect(update(reading)?.devices.find((d) => d.device === 'l-t1')).toMatchObject({ site: 'live', zone: 'z1' });
    const command = await s.next((m) => update(m)?.events.some((e) => e.kind === 'command' && e.correlationId === 'l-hot') === true, 'the command');
    const u = update(command)!;
    expect(u.events.find((e) => e.kind === 'command')).toMatchObject({ site: 'live', zone: 'z1', actuator: 'hvac', rule: 'hvac-cool', data: { mode: 'cool', setpoint: 22 } });
    expect(u.actuators['live/z1/hvac']).toMatchObject({ data: { mode: 'cool' }, rule: 'hvac-cool' });

    await device.publishAsync('sensors/live/z1/l-smoke/smoke', JSON.stringify({ value: true, id: 'l-smoke' }), { qos: 1 });
    const alert = await s.next((m) => update(m)?.events.some((e) => e.kind === 'alert') === true, 'the alert');
    expect(update(alert)?.events.find((e) => e.kind === 'alert')).toMatchObject({ severity: 'critical', rule: 'smoke-alarm', device: 'l-smoke', correlationId: 'l-smoke' });
  });

  it('shows a device offline when its last will fires', async () => {
    const s = await stream();
    await s.next((m) => m.event === 'snapshot', 'the snapshot');
    const doomed = await connect(gw.mqttUrl, { clientId: 'l-doomed', will: { topic: 'devices/l-doomed/status', payload: Buffer.from('offline'), qos: 1, retain: true } });
    await doomed.publishAsync('devices/l-doomed/status', 'online', { qos: 1 });
    await s.next((m) => update(m)?.devices.some((d) => d.device === 'l-doomed' && d.online === true) === true, 'l-doomed online');
    doomed.stream.destroy(); // a crash, not a clean disconnect: the broker publishes the will
    await s.next((m) => update(m)?.devices.some((d) => d.device === 'l-doomed' && d.online === false) === true, 'l-doomed offline');
    doomed.end(true);
  });

  it('shows a zone armed by an operator', async () => {
    const s = await stream();
    await s.next((m) => m.event === 'snapshot', 'the snapshot');
    await device.publishAsync('zones/live/z1/armed', 'true', { qos: 1 });
    await s.next((m) => update(m)?.armed['live/z1'] === true, 'live/z1 armed');
    const state = (await (await fetch(`${gw.httpUrl}/live/state`)).json()) as LiveSnapshot;
    expect(state.armed).toMatchObject({ 'live/z1': true });
  });

  it('lists dead letters with their reason', async () => {
    const s = await stream();
    await s.next((m) => m.event === 'snapshot', 'the snapshot');
    await device.publishAsync('sensors/live/z1/l-t1/temperature', '{"value":"warm"}', { qos: 1 });
    const m = await s.next((x) => update(x)?.events.some((e) => e.kind === 'deadletter') === true, 'the dead letter');
    expect(update(m)?.events.find((e) => e.kind === 'deadletter')).toMatchObject({ reason: 'invalid_payload', topic: 'sensors/live/z1/l-t1/temperature' });
  });

  it('counts its viewers in /metrics', async () => {
    expect((await scrape(gw.httpUrl)).value('gateway_live_viewers')).toBe(streams.length);
  });
});
