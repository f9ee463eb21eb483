/**
 * Device statuses in a cluster: a smoke detector that says `offline` (its last will) on one node
 * is away, not silent, for the rules of its site's owner on another node (`absent`, scope device,
 * as on one gateway: rules/watches.ts), and stays so for the node that takes the partition over
 * after the owner dies (the takeover's replay of the stream). A detector that merely stops talking,
 * after the offline one, is reported silent: the control that the rule runs, and (its wake-up due
 * after the offline one's) that an alert for the offline one would have come first.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { resolve } from 'node:path';
import { useCleanup } from '../helpers/cleanup.js';
import { partitionOf, settled, startNode, TEST_PARTITIONS, type ClusterNodeProcess } from '../helpers/cluster.js';
import { uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();
/** smoke-detector-silent with a 12 s absence. */
const RULES = resolve(import.meta.dirname, '..', 'fixtures', 'rules-cluster-silent');

interface Alert {
  device: string;
  at: number;
}

async function cluster(name: string): Promise<{ a: ClusterNodeProcess; b: ClusterNodeProcess; site: string; partition: number; redisUrl: string }> {
  const redis = await startRedis();
  defer(() => redis.stop());
  const env = { REDIS_URL: redis.url, INFLUX_URL: inject('influxUrl'), INFLUX_DB: uniqueDb(name), RULES_DIR: RULES, LIVE_PUSH_MS: '50' };
  const [a, b] = (await Promise.all(['A', 'B'].map((id) => startNode(id, env, track, defer)))) as [ClusterNodeProcess, ClusterNodeProcess];
  const view = await settled(a, ['A', 'B']);
  // A site B rules: the devices talk to A, so what they say crosses to B through Redis.
  const site = Array.from({ length: 200 }, (_, i) => `site${i}`).find((s) => view.partitions[partitionOf(s, TEST_PARTITIONS)]!.owner === 'B')!;
  return { a, b, site, partition: partitionOf(site, TEST_PARTITIONS), redisUrl: redis.url };
}

async function alertsOn(node: ClusterNodeProcess): Promise<Alert[]> {
  const alerts: Alert[] = [];
  const sub = await mqtt.connectAsync(node.mqttUrl, { clientId: `alerts-${node.id}`, reconnectPeriod: 0 });
  defer(() => sub.endAsync());
  sub.on('message', (_topic, payload) => {
    const ce = JSON.parse(payload.toString()) as { data: { device: string } };
    alerts.push({ device: ce.data.device, at: Date.now() });
  });
  await sub.subscribeAsync('alerts/#', { qos: 1 });
  return alerts;
}

async function detector(node: ClusterNodeProcess, id: string, will: boolean): Promise<MqttClient> {
  const c = await mqtt.connectAsync(node.mqttUrl, { clientId: id, reconnectPeriod: 0, ...(will ? { will: { topic: `devices/${id}/status`, payload: Buffer.from('offline'), qos: 1, retain: true } } : {}) });
  defer(() => c.endAsync(true));
  await c.publishAsync(`devices/${id}/status`, 'online', { qos: 1, retain: true });
  return c;
}

const smoke = (c: MqttClient, site: string, id: string, event: string) => c.publishAsync(`sensors/${site}/f1/${id}/smoke`, JSON.stringify({ value: false, ts: Date.now(), id: event }), { qos: 1 });

/** The detector's last will, published by A and seen on A's live page (so it is in A's spool). */
async function dies(node: ClusterNodeProcess, c: MqttClient, id: string): Promise<void> {
  c.stream.destroy();
  await waitFor(async () => {
    const s = (await (await fetch(`${node.httpUrl}/live/state`)).json()) as { devices: { device: string; online?: boolean | null }[] };
    return s.devices.some((d) => d.device === id && d.online === false);
  }, `${id} offline on ${node.id}'s live page`);
}

/** Two smoke detectors on node A: smk-gone says offline (its last will), then smk-quiet reads once and says nothing more (its silence falls due after the gone one's would have). */
async function goneThenQuiet(a: Parameters<typeof detector>[0], site: string): Promise<void> {
  const gone = await detector(a, 'smk-gone', true);
  const quiet = await detector(a, 'smk-quiet', false);
  await smoke(gone, site, 'smk-gone', 'gone-1');
  await dies(a, gone, 'smk-gone');
  await smoke(quiet, site, 'smk-quiet', 'quiet-1');
}

describe('device statuses in a cluster', () => {
  it('a smoke detector whose last will said offline on node A is not reported silent by the owner of its site on B', { timeout: 120_000 }, async () => {
    const { a, site } = await cluster('cstatus');
    const alerts = await alertsOn(a);
    await goneThenQuiet(a, site);
    await waitFor(() => alerts.some((x) => x.device === 'smk-quiet'), 'smk-quiet reported silent', 60_000);
    expect(alerts.map((x) => x.device)).toEqual(['smk-quiet']);
  });

  it('the node taking the partition over from a dead owner replays the offline too: no silent alert for the detector that said so', { timeout: 150_000 }, async () => {
    const { a, b, site, partition, redisUrl } = await cluster('cstatus_fo');
    const alerts = await alertsOn(a);
    await goneThenQuiet(a, site);
    // B has ruled all of it (its cursor in Redis is past the quiet one's reading), then dies before any absence is due.
    const probe = new Redis(redisUrl);
    defer(async () => probe.disconnect());
    const entry = await waitFor(async () => {
      const all = (await probe.xrange(`gw:stream:${partition}`, '-', '+')) as [string, string[]][];
      return all.find(([, f]) => f.some((x) => x.includes('quiet-1')))?.[0];
    }, 'the quiet reading in its stream');
    const after = (x: string, y: string): boolean => {
      const [xm, xs] = x.split('-').map(Number) as [number, number];
      const [ym, ys] = y.split('-').map(Number) as [number, number];
      return xm > ym || (xm === ym && xs >= ys);
    };
    await waitFor(async () => after((await probe.hget(`gw:state:${partition}`, 'cursor')) ?? '0-0', entry), 'B to have ruled the quiet reading');
    b.proc.child.kill('SIGKILL');
    await b.proc.exited;
    await settled(a, ['A'], 30_000);
    expect(alerts).toEqual([]);
    await waitFor(() => alerts.some((x) => x.device === 'smk-quiet'), 'smk-quiet reported silent by A', 60_000);
    expect(alerts.map((x) => x.device)).toEqual(['smk-quiet']);
    expect(a.proc.logs.some((l) => l.msg === 'partition acquired' && l['partition'] === partition)).toBe(true);
  });
});
