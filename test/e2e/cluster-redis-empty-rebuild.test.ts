/**
 * Redis restarted EMPTY under a running cluster of two nodes (no persistence, or flushed): the shared rule state
 * is gone with it. The partitions taken anew must be rebuilt from InfluxDB's history, as a single
 * gateway's rules are at its start, before their readings are ruled: an actuator already commanded
 * is not commanded the same again, and an active alarm is updated, not raised a second time.
 */
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { partitionOf } from '../../gateway/core/partition.js';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode, TEST_PARTITIONS, type ClusterNodeProcess } from '../helpers/cluster.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

interface Alert {
  readonly data: { readonly alarmId: string; readonly count: number };
}
interface AlarmJson {
  readonly id: string;
  readonly rule: string;
  readonly site: string;
  readonly count: number;
}

async function metric(n: ClusterNodeProcess, line: RegExp): Promise<number> {
  const m = line.exec(await (await fetch(`${n.httpUrl}/metrics`)).text());
  return m ? Number(m[1]) : 0;
}
const suppressedHvac = (n: ClusterNodeProcess) => metric(n, /^gateway_commands_suppressed_total\{actuator="hvac"\} (\d+)/m);
const smokeAlarms = async (n: ClusterNodeProcess): Promise<AlarmJson[]> => ((await (await fetch(`${n.httpUrl}/api/alarms`)).json()) as { alarms: AlarmJson[] }).alarms.filter((a) => a.rule === 'smoke-alarm' && a.site === 'lab');
/** The log lines saying a partition is ruled live (after its takeover). */
const liveLines = (n: ClusterNodeProcess, p: number) => n.proc.logs.filter((l) => l['partition'] === p && /^partition \d+ rebuilt from/.test(l.msg)).length;

describe('cluster: Redis restarted empty, the rules rebuilt from InfluxDB', () => {
  it('an actuator already commanded is not commanded again, an active alarm is not raised again', { timeout: 180_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    const influx = inject('influxUrl');
    const db = uniqueDb('redisemptyrebuild');
    const env = { REDIS_URL: redis.url, INFLUX_URL: influx, INFLUX_DB: db, RULES_DIR: 'rules' };
    const nodes = await Promise.all(['A', 'B'].map((id) => startNode(id, env, track, defer)));
    const a = nodes[0]!;
    const view = await settled(a, ['A', 'B']);
    const hq = partitionOf('hq', TEST_PARTITIONS);
    const lab = partitionOf('lab', TEST_PARTITIONS);
    // The owners of the two sites (whichever node rendezvous hashing gives them); the clients are on A.
    const ownerOf = (p: number) => nodes.find((n) => n.id === view.partitions[p]!.owner)!;
    const [hqOwner, labOwner] = [ownerOf(hq), ownerOf(lab)];

    const hvacCommands: Record<string, unknown>[] = [];
    const f2Commands: Record<string, unknown>[] = [];
    const alerts: Alert[] = [];
    const actuator = await mqtt.connectAsync(a.mqttUrl, { clientId: 'hvac-hq-f1', reconnectPeriod: 0 });
    defer(() => actuator.endAsync(true));
    actuator.on('message', (topic, payload) => {
      const json = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (topic === 'commands/hq/f1/hvac') hvacCommands.push(json);
      if (topic === 'commands/hq/f2/hvac') f2Commands.push(json);
      if (topic === 'alerts/lab/critical') alerts.push(json as unknown as Alert);
    });
    await actuator.subscribeAsync(['commands/hq/f1/hvac', 'commands/hq/f2/hvac', 'alerts/lab/critical'], { qos: 1 });
    const device = await mqtt.connectAsync(a.mqttUrl, { clientId: 'sensors-1', reconnectPeriod: 0 });
    defer(() => device.endAsync(true));
    const send = (topic: string, value: unknown, id: string) => device.publishAsync(topic, JSON.stringify({ value, ts: Date.now(), id }), { qos: 1 });

    // A reading commands the HVAC to cool; a smoke detector raises a critical alarm.
    await send('sensors/hq/f1/t-1/temperature', 31, 't-1-1');
    await send('sensors/lab/f1/smk-1/smoke', true, 'smk-1-1');
    await waitFor(() => hvacCommands.length === 1 && alerts.length === 1, 'the cool command and the smoke alert', 30_000);
    expect(hvacCommands[0]).toMatchObject({ type: 'hvac.set', data: { mode: 'cool' } });
    const alarmId = alerts[0]!.data.alarmId;
    // Both stored: the history a rebuild reads.
    await waitFor(async () => (await rows(influx, db, `SELECT * FROM "commands" WHERE "site" = 'hq' AND "zone" = 'f1'`)).length === 1, 'the command in InfluxDB', 30_000);
    await waitFor(async () => (await rows(influx, db, `SELECT * FROM "alarms" WHERE "alarm_id" = '${alarmId}'`)).length >= 1, 'the alarm in InfluxDB', 30_000);

    // Redis comes back without its data; the node notices and takes every partition anew.
    const before = { hq: liveLines(hqOwner, hq), lab: liveLines(labOwner, lab) };
    await redis.kill();
    await redis.restart({ empty: true });
    // A reading that came after the loss, stored (and forwarded) before or while the partition is
    // rebuilt: it was never ruled, so it is ruled once the rebuild is done, not taken for history.
    await send('sensors/hq/f2/t-2/temperature', 31, 't-2-1');
    await waitFor(() => nodes.every((n) => n.proc.logs.some((l) => l['code'] === 'GW_ERR_CLUSTER_DATA_LOST')), 'both nodes to see the data lost', 30_000);
    await settled(a, ['A', 'B']);
    await waitFor(() => liveLines(hqOwner, hq) > before.hq && liveLines(labOwner, lab) > before.lab, 'both partitions ruled live again', 60_000);
    await actuator.subscribeAsync(['commands/hq/f1/hvac', 'commands/hq/f2/hvac', 'alerts/lab/critical'], { qos: 1 });

    // The same again: the HVAC already cools, the smoke alarm is active.
    const suppressed = await suppressedHvac(hqOwner);
    await send('sensors/hq/f1/t-1/temperature', 31.5, 't-1-2');
    await send('sensors/lab/f1/smk-1/smoke', true, 'smk-1-2');
    const stored = async () => (await rows(influx, db, `SELECT * FROM "commands" WHERE "site" = 'hq' AND "zone" = 'f1'`)).length;
    // Ruled: either held as already in that state, or (the bug) commanded again.
    await waitFor(async () => (await suppressedHvac(hqOwner)) > suppressed || hvacCommands.length > 1 || (await stored()) > 1, 'the second reading ruled', 30_000);
    await waitFor(async () => alerts.length > 1 || (await smokeAlarms(a)).some((x) => x.count >= 2), 'the second smoke reading ruled', 30_000);

    await waitFor(() => f2Commands.length > 0, 'the command of the reading that came after the loss', 30_000);
    expect(f2Commands).toHaveLength(1);
    expect(f2Commands[0]).toMatchObject({ type: 'hvac.set', correlationid: 't-2-1', data: { mode: 'cool' } });
    expect(hvacCommands).toHaveLength(1);
    expect(await stored()).toBe(1);
    const active = await smokeAlarms(a);
    expect(active).toHaveLength(1);
    expect(active[0]).toMatchObject({ id: alarmId, count: 2 });
    expect(alerts.every((x) => x.data.alarmId === alarmId)).toBe(true);
    const raised = await rows(influx, db, `SELECT * FROM "alarms" WHERE "rule" = 'smoke-alarm' AND "transition" = 'raised'`);
    expect(raised).toHaveLength(1);
  });
});
