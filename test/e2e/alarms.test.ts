/**
 * Alarms, not alert floods (issue 11), through a real gateway on a manual clock: the flood figures
 * of the issue (one smoke detector: 57 identical critical alerts in 30 s; one open door in an armed
 * zone: 26 warnings in 3 s) become one notification each; an alarm is raised once, updated while
 * it holds, cleared when it stops, acknowledged over MQTT and HTTP; its transitions are stored.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../gateway/core/manual-clock.js';
import { metricAs } from '../helpers/abuse.js';
import { addCredentials } from '../helpers/auth.js';
import { advanceRules, startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { collect, connect, type Received } from '../helpers/mqtt.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let clock: ManualClock;
let client: MqttClient;
let seq = 0;

interface Alert {
  readonly correlationid: string;
  readonly type: string;
  readonly data: { readonly device: string; readonly zone: string; readonly alarmId: string; readonly count: number; readonly message: string; readonly repeat?: number };
}
interface AlarmJson {
  readonly id: string;
  readonly state: string;
  readonly rule: string;
  readonly count: number;
  readonly acknowledged: boolean;
  readonly acknowledgedBy?: string;
}

async function publish(topic: string, value: unknown): Promise<string> {
  const id = `a${++seq}`;
  await client.publishAsync(topic, JSON.stringify({ value, id }), { qos: 1 });
  return id;
}

/** Moves the gateway's clock on, letting the rules finish each timer's run before the next. */
const advance = (ms: number): Promise<void> => advanceRules(gw, clock, ms);

const alert = (m: Received) => m.json<Alert>();
const getJson = async <T>(path: string): Promise<T> => (await (await fetch(`${gw.httpUrl}${path}`)).json()) as T;

beforeAll(async () => {
  clock = new ManualClock(Date.now());
  gw = await startGateway({ clock, env: { STATS_INTERVAL_MS: '0' } });
  client = await connect(gw.mqttUrl, { clientId: 'alarms-test' });
});
afterAll(async () => {
  await client?.endAsync();
  await gw?.stop();
});

describe('the flood figures of the issue', () => {
  it('one smoke detector reporting smoke 57 times in 30 s: one critical notification, not 57', async () => {
    const critical = await collect(client, 'alerts/hq/critical');
    for (let i = 0; i < 57; i++) {
      await publish('sensors/hq/f1/smk-1/smoke', true);
      await advance(530);
    }
    // Another detector's alarm comes after everything smk-1 could have caused.
    await publish('sensors/hq/f9/smk-9/smoke', true);
    await critical.next((m) => alert(m).data.device === 'smk-9');
    const fromSmk1 = critical.messages.map(alert).filter((a) => a.data.device === 'smk-1');
    expect(fromSmk1).toHaveLength(1);
    expect(fromSmk1[0]).toMatchObject({ type: 'safety.smoke', data: { count: 1, zone: 'f1' } });
    const [alarm] = (await getJson<{ alarms: AlarmJson[] }>('/api/alarms')).alarms.filter((a) => a.id === fromSmk1[0]!.data.alarmId);
    expect(alarm).toMatchObject({ state: 'active', rule: 'smoke-alarm', count: 57 });
  });

  it('one open door in an armed zone reporting 26 times in 3 s: one warning, not 26', async () => {
    await client.publishAsync('zones/hq/vault/armed', 'true', { qos: 1 });
    await client.publishAsync('zones/hq/annex/armed', 'true', { qos: 1 });
    await waitFor(() => gw.gateway.rules.state.isArmed('hq', 'annex'), 'the zones armed');
    const warnings = await collect(client, 'alerts/hq/warning');
    for (let i = 0; i < 26; i++) {
      await publish('sensors/hq/vault/door-2/contact', true);
      await advance(115);
    }
    await publish('sensors/hq/annex/door-3/contact', true);
    await warnings.next((m) => alert(m).data.zone === 'annex');
    expect(warnings.messages.map(alert).filter((a) => a.data.zone === 'vault')).toHaveLength(1);
  });
});

describe('an alarm’s life', () => {
  it('smoke every second for a minute: raised once, no more notifications than the repeat allows, one clear when it stops', async () => {
    const critical = await collect(client, 'alerts/hq/critical');
    const first = await publish('sensors/hq/f3/smk-3/smoke', true);
    for (let i = 1; i < 60; i++) {
      await advance(1000);
      await publish('sensors/hq/f3/smk-3/smoke', true);
    }
    const raised = alert(await critical.next((m) => alert(m).data.device === 'smk-3'));
    expect(raised.correlationid).toBe(first);
    const id = raised.data.alarmId;
    expect((await getJson<{ alarm: AlarmJson }>(`/api/alarms/${id}`)).alarm).toMatchObject({ state: 'active', count: 60 });
    await advance(1000);
    await publish('sensors/hq/f3/smk-3/smoke', false);
    await gw.gateway.rules.idle();
    expect((await getJson<{ alarm: AlarmJson }>(`/api/alarms/${id}`)).alarm).toMatchObject({ state: 'cleared', count: 60 });
    expect((await getJson<{ alarms: AlarmJson[] }>('/api/alarms')).alarms.map((a) => a.id)).not.toContain(id);
    // The smoke-alarm rule repeats at most every 5 minutes: within the minute, the raise alone.
    expect(critical.messages.map(alert).filter((a) => a.data.device === 'smk-3')).toHaveLength(1);
    const transitions = await waitFor(async () => {
      const found = await rows(gw.influxUrl, gw.db, `SELECT "transition", "count", "reason" FROM "alarms" WHERE "alarm_id" = '${id}'`);
      return found.some((t) => t['transition'] === 'cleared') ? found : undefined;
    }, 'the transitions in InfluxDB');
    const names = transitions.map((t) => t['transition']);
    expect(names.filter((t) => t === 'raised')).toHaveLength(1);
    expect(names.filter((t) => t === 'cleared')).toHaveLength(1);
    expect(names.at(0)).toBe('raised');
    expect(names.at(-1)).toBe('cleared');
    // Updates are stored at most every 10 s (the count is in every one).
    expect(names.filter((t) => t === 'updated').length).toBeLessThanOrEqual(6);
    expect(transitions.at(-1)).toMatchObject({ count: 60, reason: expect.stringContaining('clear condition met by smk-3') });
  });

  it('clears a zone’s intrusion alarm after 5 quiet minutes, and raises a new one when it starts again', async () => {
    const warnings = await collect(client, 'alerts/hq/warning');
    await client.publishAsync('zones/hq/store/armed', 'true', { qos: 1 });
    await waitFor(() => gw.gateway.rules.state.isArmed('hq', 'store'), 'the store armed');
    await publish('sensors/hq/store/door-4/contact', true);
    const first = alert(await warnings.next((m) => alert(m).data.zone === 'store'));
    await advance(5 * 60_000);
    expect((await getJson<{ alarm: AlarmJson }>(`/api/alarms/${first.data.alarmId}`)).alarm.state).toBe('cleared');
    const again = await publish('sensors/hq/store/door-4/contact', true);
    const second = alert(await warnings.next((m) => alert(m).correlationid === again));
    expect(second.data.alarmId).not.toBe(first.data.alarmId);
  });

  it('is acknowledged over MQTT (admin) and over HTTP; an unknown alarm is a dead letter', async () => {
    const critical = await collect(client, 'alerts/lab/critical');
    await publish('sensors/lab/k1/smk-5/smoke', true);
    await publish('sensors/lab/k2/smk-6/smoke', true);
    const [a, b] = await waitFor(() => (critical.messages.length >= 2 ? critical.messages.map(alert) : undefined), 'two alarms raised');
    await client.publishAsync(`alarms/lab/${a!.data.alarmId}/ack`, JSON.stringify({ by: 'ops', note: 'on my way' }), { qos: 1 });
    expect((await getJson<{ alarm: AlarmJson }>(`/api/alarms/${a!.data.alarmId}`)).alarm).toMatchObject({ acknowledged: true, acknowledgedBy: 'ops', state: 'active' });
    const response = await fetch(`${gw.httpUrl}/api/alarms/${b!.data.alarmId}/ack`, { method: 'POST', body: JSON.stringify({ note: 'seen' }) });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { alarm: AlarmJson }).alarm).toMatchObject({ acknowledged: true, acknowledgedBy: expect.stringMatching(/^http:/) });
    const dead = await collect(client, 'gateway/deadletter');
    await client.publishAsync('alarms/lab/no-such-alarm/ack', '', { qos: 1 });
    expect((await dead.next()).json()).toMatchObject({ reason: 'unknown_alarm', topic: 'alarms/lab/no-such-alarm/ack' });
    expect((await fetch(`${gw.httpUrl}/api/alarms/no-such-alarm/ack`, { method: 'POST' })).status).toBe(404);
    const acks = await waitFor(async () => {
      const found = await rows(gw.influxUrl, gw.db, `SELECT "alarm_id", "reason" FROM "alarms" WHERE "transition" = 'acknowledged'`);
      return found.length >= 2 ? found : undefined;
    }, 'the acknowledgements in InfluxDB');
    expect(acks.map((r) => r['alarm_id']).sort()).toEqual([a!.data.alarmId, b!.data.alarmId].sort());
    expect(acks.find((r) => r['alarm_id'] === a!.data.alarmId)?.['reason']).toBe('by ops: on my way');
  });

  it('is cleared by an operator (`"clear": true`) over MQTT and HTTP when it cannot clear by itself: a detector removed in alarm', async () => {
    const critical = await collect(client, 'alerts/lab/critical');
    await publish('sensors/lab/k3/smk-7/smoke', true);
    await publish('sensors/lab/k4/smk-8/smoke', true);
    const [a, b] = await waitFor(() => (critical.messages.length >= 2 ? critical.messages.map(alert) : undefined), 'two alarms raised');
    await client.publishAsync(`alarms/lab/${a!.data.alarmId}/ack`, JSON.stringify({ by: 'ops', note: 'detector removed', clear: true }), { qos: 1 });
    expect((await getJson<{ alarm: AlarmJson }>(`/api/alarms/${a!.data.alarmId}`)).alarm).toMatchObject({ acknowledged: true, state: 'cleared' });
    const response = await fetch(`${gw.httpUrl}/api/alarms/${b!.data.alarmId}/ack`, { method: 'POST', body: JSON.stringify({ clear: true }) });
    expect(((await response.json()) as { alarm: AlarmJson }).alarm).toMatchObject({ acknowledged: true, state: 'cleared' });
    const active = await getJson<{ alarms: AlarmJson[] }>('/api/alarms');
    expect(active.alarms.map((x) => x.id)).not.toEqual(expect.arrayContaining([a!.data.alarmId]));
    expect(active.alarms.map((x) => x.id)).not.toEqual(expect.arrayContaining([b!.data.alarmId]));
    const cleared = await waitFor(async () => {
      const found = await rows(gw.influxUrl, gw.db, `SELECT "alarm_id", "reason" FROM "alarms" WHERE "transition" = 'cleared' AND "alarm_id" = '${a!.data.alarmId}'`);
      return found.length > 0 ? found : undefined;
    }, 'the clear in InfluxDB');
    expect(cleared[0]?.['reason']).toBe('cleared by ops: detector removed');
    // Not a boolean: refused, nothing cleared.
    expect((await fetch(`${gw.httpUrl}/api/alarms/${b!.data.alarmId}/ack`, { method: 'POST', body: JSON.stringify({ clear: 'yes' }) })).status).toBe(400);
    // Not an object: the answer shows what an acknowledgement looks like; each refusal is counted.
    const refused = () => metricAs(gw.httpUrl, 'gateway_http_refusals_total', { reason: 'invalid_request' });
    const before = await refused();
    const list = await fetch(`${gw.httpUrl}/api/alarms/${b!.data.alarmId}/ack`, { method: 'POST', body: '[]' });
    expect([list.status, ((await list.json()) as { error: string }).error]).toEqual([400, 'an acknowledgement must be a JSON object (e.g. {"by": "<who>", "note": "<text>"})']);
    const huge = await fetch(`${gw.httpUrl}/api/alarms/${b!.data.alarmId}/ack`, { method: 'POST', body: 'x'.repeat(100_000) });
    expect(huge.status).toBe(413);
    expect([await refused(), await metricAs(gw.httpUrl, 'gateway_http_refusals_total', { reason: 'body_too_large' })]).toEqual([before + 1, 1]);
    // Smoke again from a detector whose alarm was cleared by hand: raised anew.
    const again = await publish('sensors/lab/k3/smk-7/smoke', true);
    const next = alert(await critical.next((m) => alert(m).correlationid === again));
    expect(next.data.alarmId).not.toBe(a!.data.alarmId);
  });

  it('arms a zone over HTTP from this machine while no credentials exist', async () => {
    const response = await fetch(`${gw.httpUrl}/api/zones/hq/cellar/armed`, { method: 'POST', body: 'true' });
    expect(response.status).toBe(200);
    expect(gw.gateway.rules.state.isArmed('hq', 'cellar')).toBe(true);
    expect((await fetch(`${gw.httpUrl}/api/zones/hq/cellar/armed`, { method: 'POST', body: 'perhaps' })).status).toBe(400);
    // Whatever the MQTT topic zones/<site>/<zone>/armed takes, HTTP takes too.
    for (const [body, armed] of [['off', false], ['{"armed": true}', true], ['"disarmed"', false], ['1', true], ['Disarmed', false]] as const) {
      const r = await fetch(`${gw.httpUrl}/api/zones/hq/cellar/armed`, { method: 'POST', body });
      await gw.gateway.rules.idle();
      expect([body, r.status, gw.gateway.rules.state.isArmed('hq', 'cellar')]).toEqual([body, 200, armed]);
    }
  });
});

describe('actions over HTTP once credentials exist', () => {
  it('need an admin’s credentials (401 with the challenge without, 403 for an observer), and say why', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-alarms-auth-'));
    try {
      const secrets = await addCredentials(dataDir, [
        { name: 'ops', role: 'admin' },
        { name: 'grafana', role: 'observer' },
      ]);
      const locked = await startGateway({ dataDir, env: { BIND_HOST: '127.0.0.1', STATS_INTERVAL_MS: '0' } });
      const basic = (name: string) => ({ authorization: `Basic ${Buffer.from(`${name}:${secrets[name]!}`).toString('base64')}` });
      try {
        const anonymous = await fetch(`${locked.httpUrl}/api/zones/hq/vault/armed`, { method: 'POST', body: 'true' });
        expect(anonymous.status).toBe(401);
        expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
        const observer = await fetch(`${locked.httpUrl}/api/zones/hq/vault/armed`, { method: 'POST', body: 'true', headers: basic('grafana') });
        expect(observer.status).toBe(403);
        expect((await fetch(`${locked.httpUrl}/api/alarms`, { headers: basic('grafana') })).status).toBe(200);
        expect(locked.gateway.rules.state.isArmed('hq', 'vault')).toBe(false);
        const admin = await fetch(`${locked.httpUrl}/api/zones/hq/vault/armed`, { method: 'POST', body: 'true', headers: basic('ops') });
        expect(admin.status).toBe(200);
        await locked.gateway.rules.idle();
        expect(locked.gateway.rules.state.isArmed('hq', 'vault')).toBe(true);
      } finally {
        await locked.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
