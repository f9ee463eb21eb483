/**
 * Redis restarted EMPTY while InfluxDB does not answer either (one host rebooted: Redis without
 * persistence, influxd slower to start). The partitions' rebuild cannot read the history: what it
 * has (nothing) must not be committed as their shared state, or they are never rebuilt. Once
 * InfluxDB answers, they are rebuilt from it: the actuator already commanded is not commanded again.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { describe, expect, inject, it } from 'vitest';
import { KEYS } from '../../gateway/cluster/redis-keys.js';
import { partitionOf } from '../../gateway/core/partition.js';
import { useCleanup } from '../helpers/cleanup.js';
import { settled, startNode, TEST_PARTITIONS, type ClusterNodeProcess } from '../helpers/cluster.js';
import { rows, uniqueDb } from '../helpers/influx.js';
import { startRedis } from '../helpers/redis.js';
import { restartablePort } from '../helpers/restartable-port.js';
import { waitFor } from '../helpers/wait.js';

const { defer, track } = useCleanup();

/** InfluxDB's port as the gateway sees it: closed (connections refused, open ones cut) and opened again. */
async function influxGate(target: string): Promise<{ url: string; open: () => Promise<void>; close: () => Promise<void> }> {
  const port = await restartablePort();
  const to = new URL(target);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const gate = {
    url: `http://127.0.0.1:${port}`,
    open: () =>
      new Promise<void>((resolve) => {
        server = createServer((c) => {
          const up = createConnection(Number(to.port), to.hostname);
          for (const s of [c, up]) {
            sockets.add(s);
            s.on('close', () => sockets.delete(s));
            s.on('error', () => (s === c ? up : c).destroy());
          }
          c.pipe(up).pipe(c);
        });
        server.listen(port, '127.0.0.1', resolve);
      }),
    close: async () => {
      const s = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      if (s) await new Promise((r) => s.close(r));
    },
  };
  await gate.open();
  defer(() => gate.close());
  return gate;
}

async function metric(n: ClusterNodeProcess, line: RegExp): Promise<number> {
  const m = line.exec(await (await fetch(`${n.httpUrl}/metrics`)).text());
  return m ? Number(m[1]) : 0;
}
const suppressedHvac = (n: ClusterNodeProcess) => metric(n, /^gateway_commands_suppressed_total\{actuator="hvac"\} (\d+)/m);
const liveLines = (n: ClusterNodeProcess, p: number) => n.proc.logs.filter((l) => l['partition'] === p && /^partition \d+ rebuilt from/.test(l.msg)).length;
const historyTries = (n: ClusterNodeProcess, p: number) => n.proc.logs.filter((l) => l['partition'] === p && l['code'] === 'GW_ERR_HISTORY').length;

describe('cluster: Redis restarted empty while InfluxDB is away', () => {
  it('commits no empty state, rebuilds once InfluxDB answers: no command again', { timeout: 180_000 }, async () => {
    const redis = await startRedis();
    defer(() => redis.stop());
    const influx = inject('influxUrl');
    const gate = await influxGate(influx);
    const db = uniqueDb('redisemptyinfluxdown');
    const a = await startNode('A', { REDIS_URL: redis.url, INFLUX_URL: gate.url, INFLUX_DB: db, RULES_DIR: 'rules' }, track, defer);
    await settled(a, ['A']);
    const hq = partitionOf('hq', TEST_PARTITIONS);
    const hvacCommands: unknown[] = [];
    const actuator = await mqtt.connectAsync(a.mqttUrl, { clientId: 'hvac-hq-f1', reconnectPeriod: 0 });
    defer(() => actuator.endAsync(true));
    actuator.on('message', (topic, payload) => void (topic === 'commands/hq/f1/hvac' && hvacCommands.push(JSON.parse(payload.toString()))));
    await actuator.subscribeAsync('commands/hq/f1/hvac', { qos: 1 });
    const device = await mqtt.connectAsync(a.mqttUrl, { clientId: 'sensors-1', reconnectPeriod: 0 });
    defer(() => device.endAsync(true));
    const send = (value: number, id: string) => device.publishAsync('sensors/hq/f1/t-1/temperature', JSON.stringify({ value, ts: Date.now(), id }), { qos: 1 });
    const stored = async () => (await rows(influx, db, `SELECT * FROM "commands" WHERE "site" = 'hq' AND "zone" = 'f1'`)).length;

    await send(31, 't-1-1');
    await waitFor(async () => hvacCommands.length === 1 && (await stored()) === 1, 'the cool command, sent and stored', 30_000);

    // InfluxDB goes away, then Redis comes back empty.
    await gate.close();
    const before = liveLines(a, hq);
    await redis.kill();
    await redis.restart({ empty: true });
    await waitFor(() => historyTries(a, hq) >= 2 || liveLines(a, hq) > before, 'the rebuild tried twice, or the partition ruled live', 60_000);
    const check = new Redis(redis.url);
    defer(async () => check.disconnect());
    // Nothing committed as the partition's shared state: it is still to be rebuilt.
    expect(await check.exists(KEYS.state(hq))).toBe(0);
    expect(liveLines(a, hq)).toBe(before);

    await gate.open();
    await waitFor(() => liveLines(a, hq) > before, 'the partition rebuilt and ruled live', 60_000);
    expect(await check.exists(KEYS.state(hq))).toBe(1);
    await actuator.subscribeAsync('commands/hq/f1/hvac', { qos: 1 });
    const suppressed = await suppressedHvac(a);
    await send(31.5, 't-1-2');
    await waitFor(async () => (await suppressedHvac(a)) > suppressed || hvacCommands.length > 1 || (await stored()) > 1, 'the second reading ruled', 30_000);
    expect(hvacCommands).toHaveLength(1);
    expect(await stored()).toBe(1);
  });
});
