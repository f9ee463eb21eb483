/**
 * The Grafana dashboards: each is checked against Grafana's dashboard schema (types from
 * @grafana/schema, pinned to the Grafana image in docker-compose.yml), and after a simulated
 * building runs through a real gateway into a real InfluxDB, every variable, panel query and
 * annotation, with Grafana's macros and the variables filled in, runs and returns data.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulation } from '../../simulators/simulator.js';
import { dashboardChecker, formatVariable, interpolate, loadDashboards, provisionedDatasourceUid, type DashboardChecker, type DashboardJson } from '../helpers/grafana.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { query, rows, type Series } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { scrape } from '../helpers/prometheus.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

let dashboards: { file: string; json: DashboardJson }[];
let check: DashboardChecker;
let uid: string;

beforeAll(async () => {
  dashboards = await loadDashboards();
  uid = await provisionedDatasourceUid();
  check = dashboardChecker();
});

describe('the dashboard files', () => {
  it('are the four the README promises, with unique uids', () => {
    expect(dashboards.map((d) => d.file)).toEqual(['building-overview.json', 'device-history.json', 'gateway-health.json', 'rules-and-alerts.json']);
    expect(new Set(dashboards.map((d) => d.json.uid)).size).toBe(dashboards.length);
  });

  it('match Grafana’s dashboard schema and use the provisioned InfluxDB data source', () => {
    for (const { file, json } of dashboards) expect(check(json, uid), file).toEqual([]);
  });

  it('give Device history its site, zone and device variables, and Rules and alerts its alert annotations', () => {
    const byFile = new Map(dashboards.map((d) => [d.file, d.json]));
    expect(byFile.get('device-history.json')?.templating?.list?.map((v) => v.name)).toEqual(['site', 'zone', 'device']);
    const annotation = byFile.get('rules-and-alerts.json')?.annotations?.list?.find((a) => !a.builtIn);
    expect(annotation?.target?.query).toMatch(/FROM "alerts"/);
  });

  describe('a broken dashboard is refused', () => {
    const broken: [string, (d: Record<string, unknown>) => void, RegExp][] = [
      ['an unknown top-level key', (d) => (d['panelz'] = []), /additional properties \("panelz"\)/],
      ['a cursor-sync mode Grafana does not have', (d) => (d['graphTooltip'] = 7), /graphTooltip must be equal to one of the allowed values/],
      ['no schemaVersion', (d) => delete d['schemaVersion'], /must have required property 'schemaVersion'/],
      ['a panel without its height', (d) => delete panel(d)['gridPos']['h'], /gridPos must have required property 'h'/],
      ['a misspelt panel option', (d) => (panel(d)['options']['reduceOption'] = {}), /options must NOT have additional properties \("reduceOption"\)/],
      ['a stat colour mode that does not exist', (d) => (panel(d)['options']['colorMode'] = 'rainbow'), /colorMode must be equal to one of the allowed values/],
      ['a threshold mode that does not exist', (d) => (panel(d)['fieldConfig']['defaults']['thresholds'] = { mode: 'relative', steps: [] }), /thresholds\/mode must be equal to one of the allowed values/],
      ['a query that is not raw InfluxQL', (d) => delete panel(d)['targets'][0]['rawQuery'], /must have required property 'rawQuery'/],
      ['another data source', (d) => (panel(d)['datasource'] = { type: 'influxdb', uid: 'elsewhere' }), /datasource uid elsewhere is not the provisioned/],
      ['a panel type Grafana does not ship', (d) => (panel(d)['type'] = 'graph2000'), /panel type "graph2000" is not one of/],
    ];
    it.each(broken)('%s', (_what, breakIt, message) => {
      const d = structuredClone(dashboards[0]!.json) as unknown as Record<string, unknown>;
      breakIt(d);
      const problems = check(d, uid);
      expect(problems.join('\n')).toMatch(message);
    });
  });
});

// Loosely typed access for breaking a dashboard on purpose.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test pokes at arbitrary JSON
const panel = (d: Record<string, unknown>): any => (d['panels'] as Record<string, unknown>[]).find((p) => p['type'] === 'stat');

describe('every query, after a simulated run', () => {
  let gw: TestGateway;
  let node: TestGateway;
  let redis: TestRedis;
  let device: MqttClient;

  beforeAll(async () => {
    gw = await startGateway({ env: { STATS_INTERVAL_MS: '100' } });
    // A second gateway, a cluster node (on its own Redis), writing to the same database: the per-node view.
    redis = await startRedis();
    node = await startGateway({ db: gw.db, env: { STATS_INTERVAL_MS: '100', REDIS_URL: redis.url, NODE_ID: 'node-2', PARTITIONS: '4', LEASE_MS: '1000' } });
    await runSimulation({ url: node.mqttUrl, devices: 11, sites: 1, zonesPerSite: 1, rate: 0, count: 60, scenario: 'normal', seed: 5, prefix: 'node2' });
    await waitFor(async () => {
      const [r] = await rows(gw.influxUrl, gw.db, `SELECT last("partitions_owned") AS p, last("forward_backlog") AS f FROM "gateway_stats" WHERE "node" = 'node-2'`);
      return Number(r?.['p'] ?? 0) === 4 && r?.['f'] === 0 && node.gateway.spool.stats().events === 0;
    }, 'the cluster node\'s stats in InfluxDB', 30_000);
    // Every device model and scenario: HVAC and lights commands, intrusion and smoke alerts.
    await runSimulation({ url: gw.mqttUrl, devices: 22, sites: 2, zonesPerSite: 2, rate: 0, count: 300, scenario: 'normal', seed: 1, prefix: 'norm' });
    await runSimulation({ url: gw.mqttUrl, devices: 11, sites: 1, zonesPerSite: 2, rate: 0, count: 120, scenario: 'heatwave', seed: 2, prefix: 'heat' });
    await runSimulation({ url: gw.mqttUrl, devices: 11, sites: 1, zonesPerSite: 1, rate: 0, count: 150, scenario: 'intrusion', seed: 3, prefix: 'intr' });
    await runSimulation({ url: gw.mqttUrl, devices: 11, sites: 1, zonesPerSite: 1, rate: 0, count: 150, scenario: 'fire', seed: 4, prefix: 'fire' });
    device = await connect(gw.mqttUrl, { clientId: 'dash-bad' });
    await device.publishAsync('sensors/site1/z1/dash-bad/temperature', 'not json', { qos: 1 });
    await device.publishAsync('sensors/site1/z1/dash-bad/teapot', '1', { qos: 1 });
    await gw.gateway.rules.idle();
    // Wait until InfluxDB holds everything the gateway took, stats included.
    const readings = (await scrape(gw.httpUrl)).value('gateway_readings_total');
    await waitFor(async () => {
      const [r] = await rows(gw.influxUrl, gw.db, 'SELECT sum("readings") AS n FROM "gateway_stats"');
      return Number(r?.['n'] ?? 0) >= readings && gw.gateway.spool.stats().events === 0;
    }, 'every event and its stats in InfluxDB', 30_000);
  });
  afterAll(async () => {
    await device?.endAsync();
    await node?.stop();
    await redis?.stop();
    await gw?.stop();
  });

  it('fills every template variable from InfluxDB and gets data back from every panel query and annotation', async () => {
    const report: string[] = [];
    let queries = 0;
    for (const { file, json } of dashboards) {
      const variables = new Map<string, string>();
      const ctx = () => ({ variables, from: json.time?.from ?? 'now-6h', intervalMs: 10_000 });
      for (const v of json.templating?.list ?? []) {
        const series = await query(gw.influxUrl, gw.db, interpolate(v.query ?? '', ctx()));
        const values = [...new Set(series.flatMap((s) => s.values.map((row) => String(row[s.columns.indexOf('value')]))))].sort();
        if (values.length === 0) report.push(`${file} variable $${v.name}: no values`);
        // The dashboards open on "All"; a stored single value would be used as it is.
        const current = v.current?.value;
        const chosen = current === '$__all' || (Array.isArray(current) && current.includes('$__all')) ? values : [current].flat().filter((x): x is string => typeof x === 'string');
        variables.set(v.name, v.allValue && chosen === values ? v.allValue : formatVariable(chosen, v));
      }
      const targets = [
        ...(json.panels ?? []).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, q: t.query }))),
        ...(json.annotations?.list ?? []).filter((a) => a.target).map((a) => ({ where: `annotation "${a.name}"`, q: a.target!.query })),
      ];
      for (const { where, q } of targets) {
        queries++;
        let series: Series[];
        try {
          series = await query(gw.influxUrl, gw.db, interpolate(q, ctx()));
        } catch (err) {
          report.push(`${file} ${where}: ${(err as Error).message}`);
          continue;
        }
        const hasValue = series.some((s) => s.values.some((row) => row.some((cell, i) => s.columns[i] !== 'time' && cell !== null)));
        if (!hasValue) report.push(`${file} ${where}: no data for ${interpolate(q, ctx())}`);
      }
    }
    expect(report).toEqual([]);
    expect(queries).toBeGreaterThanOrEqual(40);
  });
});
