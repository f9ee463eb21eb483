/**
 * /metrics, /healthz, /readyz and the gateway's own `gateway_stats` points, against a real
 * gateway, real MQTT clients and a real InfluxDB.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { rows } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { ROOT } from '../helpers/process.js';
import { scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

let gw: TestGateway;
let device: MqttClient;

beforeAll(async () => {
  gw = await startGateway({ env: { STATS_INTERVAL_MS: '100' } });
  device = await connect(gw.mqttUrl, { clientId: 'm-dev' });
});
afterAll(async () => {
  await device?.endAsync();
  await gw?.stop();
});

describe('/metrics', () => {
  it('parses as Prometheus text, and its counters move when readings flow', async () => {
    const before = await scrape(gw.httpUrl);
    for (const name of ['gateway_readings_total', 'gateway_deadletters_total', 'gateway_rule_firings_total', 'gateway_commands_total', 'gateway_alerts_total', 'gateway_write_batches_total', 'gateway_write_latency_seconds', 'gateway_spool_events', 'gateway_connected_clients', 'gateway_live_viewers']) {
      expect(before.families.has(name), name).toBe(true);
    }
    expect(before.families.get('gateway_write_latency_seconds')?.type).toBe('HISTOGRAM');
    expect(before.value('gateway_connected_clients')).toBeGreaterThanOrEqual(1);
    // The process and Node.js metrics carry one prefix: gateway_process_cpu_…, not gateway_process_process_cpu_….
    expect(before.families.has('gateway_process_cpu_seconds_total')).toBe(true);
    expect(before.families.has('gateway_nodejs_eventloop_lag_p99_seconds')).toBe(true);
    expect([...before.families.keys()].filter((n) => n.includes('process_process') || n.startsWith('gateway_process_nodejs'))).toEqual([]);

    await device.publishAsync('sensors/m/z1/m-t/temperature', JSON.stringify({ value: 31, id: 'm-hot' }), { qos: 1 });
    await device.publishAsync('sensors/m/z1/m-t/humidity', '48', { qos: 1 });
    await device.publishAsync('sensors/m/z1/m-smoke/smoke', 'true', { qos: 1 });
    await device.publishAsync('sensors/m/z1/m-t/temperature', 'not json', { qos: 1 });
    await gw.gateway.rules.idle();

    const after = await waitFor(async () => {
      const s = await scrape(gw.httpUrl);
      return s.value('gateway_points_written_total') > before.value('gateway_points_written_total') + 4 ? s : undefined;
    }, 'the points to reach InfluxDB');
    const moved = (name: string, labels?: Record<string, string>): number => after.value(name, labels) - before.value(name, labels);
    expect(moved('gateway_readings_total', { kind: 'temperature' })).toBe(1);
    expect(moved('gateway_readings_total', { kind: 'humidity' })).toBe(1);
    expect(moved('gateway_deadletters_total', { reason: 'invalid_json' })).toBe(1);
    expect(moved('gateway_rule_firings_total', { rule: 'hvac-cool' })).toBe(1);
    expect(moved('gateway_rule_firings_total', { rule: 'smoke-alarm' })).toBe(1);
    expect(moved('gateway_commands_total', { actuator: 'hvac' })).toBeGreaterThanOrEqual(1);
    expect(moved('gateway_alerts_total', { severity: 'critical' })).toBe(1);
    expect(moved('gateway_write_batches_total', { result: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(moved('gateway_write_latency_seconds')).toBeGreaterThanOrEqual(1);
  });
});

describe('/healthz and /readyz', () => {
  it('answers healthy, and ready with each check listed while InfluxDB is up', async () => {
    const health = await fetch(`${gw.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${gw.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; checks: Record<string, { ok: boolean }> };
    expect(body.status).toBe('ready');
    expect(Object.keys(body.checks).sort()).toEqual(['devices', 'influxdb', 'rules', 'spool']);
  });
});

describe('gateway_stats in InfluxDB', () => {
  it('counts every reading and dead letter exactly once across its points, with write latency and spool depth', async () => {
    const readings = 25;
    for (let i = 0; i < readings; i++) await device.publishAsync(`sensors/s/z2/s-t/co2`, String(500 + i), { qos: 1 });
    await device.publishAsync('sensors/s/z2/s-t/nosuchkind', '1', { qos: 1 });
    // Every accepted reading of this gateway, so far, by /metrics: the stats must add up to it.
    const total = (await scrape(gw.httpUrl)).value('gateway_readings_total');
    const deadLetters = (await scrape(gw.httpUrl)).value('gateway_deadletters_total');
    const sums = await waitFor(async () => {
      const [r] = await rows(gw.influxUrl, gw.db, 'SELECT sum(readings) AS readings, sum(deadletters) AS deadletters, count(spool_events) AS points, max(write_latency_ms) AS latency, max(clients) AS clients FROM gateway_stats');
      return r && Number(r['readings']) >= total && Number(r['deadletters']) >= deadLetters ? r : undefined;
    }, 'gateway_stats to cover every reading');
    expect(sums['readings']).toBe(total);
    expect(sums['deadletters']).toBe(deadLetters);
    expect(Number(sums['points'])).toBeGreaterThanOrEqual(2);
    expect(Number(sums['latency'])).toBeGreaterThan(0);
    expect(Number(sums['clients'])).toBeGreaterThanOrEqual(1);
    const hosts = await rows(gw.influxUrl, gw.db, 'SHOW TAG VALUES FROM gateway_stats WITH KEY = "host"');
    expect(hosts).toHaveLength(1);
    const [last] = await rows(gw.influxUrl, gw.db, 'SELECT last(influx_up) AS up FROM gateway_stats');
    expect(last?.['up']).toBe(true);
    // The README documents the measurement as an addition to DESIGN.md's layout: every field.
    const readme = await readFile(resolve(ROOT, 'README.md'), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| `gateway_stats`'));
    const fields = await rows(gw.influxUrl, gw.db, 'SHOW FIELD KEYS FROM gateway_stats');
    expect(fields.length).toBeGreaterThanOrEqual(19);
    for (const f of fields) expect(row, String(f['fieldKey'])).toContain(`\`${String(f['fieldKey'])}\``);
  });
});
