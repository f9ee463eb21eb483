/**
 * CPU a server spends per reading when readings trickle in as the latency section sends them:
 * 100 real `mqtt` clients publishing QoS 1 at a fixed total rate, each reading its own socket
 * read (not the throughput section's full pipes). Split into the main thread and the others (the
 * thread pool's writes and fdatasyncs, V8's GC helpers), user and system time, from /proc.
 *
 *   npx tsx bench/trickle-cpu.ts [rate=5000] [seconds=10] [gateway|aedes|deque] [ENV=v,ENV=v]
 *
 * e.g. `… 5000 10 gateway SPOOL_COMMIT_INTERVAL_MS=0,RULES_DIR=/tmp/empty` against the defaults.
 * The gateway runs as `npm start` runs it (build first: `npm run build`), with its own influxd.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startInfluxd } from '../gateway/storage/influxd.js';
import { cpuSeconds } from './lib/cpu.js';
import { startBareAedes, startGatewayProcess } from './lib/processes.js';

/** Clock ticks (user, system) of each thread of a process. */
function threadTicks(pid: number): Map<string, readonly [number, number]> {
  const out = new Map<string, readonly [number, number]>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(')').at(-1)!.trim().split(' ');
      out.set(tid, [Number(f[11]), Number(f[12])]);
    } catch {
      // The thread ended in between.
    }
  }
  return out;
}

const rate = Number(process.argv[2] ?? 5000);
const seconds = Number(process.argv[3] ?? 10);
const which = process.argv[4] ?? 'gateway';
const env = Object.fromEntries((process.argv[5] ?? '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
const influxDir = await mkdtemp(join(tmpdir(), 'gw-trickle-'));
const influx = which === 'gateway' ? await startInfluxd({ dataDir: influxDir }) : undefined;
const server = influx ? await startGatewayProcess({ influxUrl: influx.url, db: 'trickle', env }) : await startBareAedes(which === 'deque');
const pid = server.child.pid!;
const url = `mqtt://127.0.0.1:${server.mqttPort}`;
const clients = await Promise.all(Array.from({ length: 100 }, (_, i) => mqtt.connectAsync(url, { clientId: `trickle-${i}`, reconnectPeriod: 0 })));

/** Publishes at `rate` for `secs`, as the latency section does (a tick a millisecond, what is due). */
const phase = (secs: number): Promise<void> =>
  new Promise((resolve) => {
    const total = Math.round(rate * secs);
    const started = performance.now();
    let sent = 0;
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000)) - sent;
      for (let i = 0; i < due; i++, sent++) {
        const zone = sent % 50;
        clients[sent % 100]!.publish(`sensors/bg/b${zone}/b${zone}/temperature`, `{"value":25,"id":"bg-${sent}"}`, { qos: 1 });
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });

await phase(3);
const cpuBefore = cpuSeconds(pid);
const ticksBefore = threadTicks(pid);
const started = performance.now();
await phase(seconds);
const used = cpuSeconds(pid) - cpuBefore;
const ticksAfter = threadTicks(pid);
const perReading = (ticks: number): string => ((ticks * 1e4) / (rate * seconds)).toFixed(1);
const others = [0, 0];
for (const [tid, [user, sys]] of ticksAfter) {
  const [user0, sys0] = ticksBefore.get(tid) ?? [0, 0];
  if (tid === String(pid)) console.log(`  main thread:   user ${perReading(user - user0)}, system ${perReading(sys - sys0)} µs a reading`);
  else [others[0], others[1]] = [others[0]! + user - user0, others[1]! + sys - sys0];
}
console.log(`  other threads: user ${perReading(others[0]!)}, system ${perReading(others[1]!)} µs a reading`);
console.log(`${which} ${JSON.stringify(env)} at ${rate} readings/s: ${((used * 1e6) / (rate * seconds)).toFixed(1)} µs a reading, ${((100 * used) / ((performance.now() - started) / 1000)).toFixed(0)}% of a core`);
await Promise.all(clients.map((c) => c.endAsync(true)));
await server.stop();
await influx?.stop();
await rm(influxDir, { recursive: true, force: true });
