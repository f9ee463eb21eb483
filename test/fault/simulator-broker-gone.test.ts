/**
 * The broker dies under the simulator's QoS 1 load: the readings it never acknowledged (in flight
 * when it died, or queued by the clients while they tried to reconnect) are counted and named in
 * the summary, not lost between "acknowledged" and "failed" (a walkthrough's run against a
 * SIGKILLed gateway said 4,500 sent, 4,063 acknowledged, 0 failed).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { afterEach, describe, expect, it } from 'vitest';
import { runNativeSimulation } from '../../simulators/native.js';
import { runSimulation } from '../../simulators/simulator.js';
import { runTs } from '../helpers/run.js';

interface DyingBroker {
  readonly url: string;
  /** Readings the broker took (PUBACK written) before it started holding them. */
  readonly passed: () => number;
  /** Resolves once `hold` readings are held unacknowledged; the broker is then killed (every socket cut, nothing listening). */
  readonly killed: Promise<void>;
  readonly close: () => Promise<void>;
}

/** A real Aedes that acknowledges `pass` readings, then holds the next `hold` without an answer and dies with them in flight. */
async function dyingBroker(pass: number, hold: number, isReading = (topic: string) => topic.startsWith('sensors/')): Promise<DyingBroker> {
  let passed = 0;
  let held = 0;
  let kill: () => void = () => undefined;
  const killed = new Promise<void>((resolve) => (kill = resolve));
  const broker = await Aedes.createBroker({
    authorizePublish: (_client, packet, cb) => {
      if (!isReading(packet.topic)) return cb(null);
      if (passed < pass) {
        passed++;
        return cb(null);
      }
      // Never called back: no PUBACK, as a gateway killed before its group commit.
      if (++held === hold) kill();
    },
  });
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    broker.handle(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dead = killed.then(() => {
    server.close();
    for (const s of sockets) s.destroy();
  });
  return {
    url,
    passed: () => passed,
    killed: dead,
    close: async () => {
      kill();
      await dead;
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}

let current: DyingBroker | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe('the simulator when the broker dies mid-run', () => {
  it('counts every reading never acknowledged: sent = acknowledged + failed + unacknowledged', async () => {
    const broker = (current = await dyingBroker(40, 20));
    const summary = await runSimulation({ url: broker.url, devices: 4, rate: 200, duration: 2, qos: 1, prefix: 'gone', restore: false, drainTimeoutMs: 1000 });
    await broker.killed;
    expect(summary.acknowledged).toBeGreaterThan(0);
    expect(summary.acknowledged).toBeLessThanOrEqual(broker.passed());
    // The 20 held in flight at least, and what the clients queued while the broker was gone.
    expect(summary.unacknowledged).toBeGreaterThanOrEqual(20);
    expect(summary.acknowledged + summary.failed + summary.unacknowledged).toBe(summary.sent);
  });

  it('npm run simulate names the unacknowledged readings, warns, and exits 2', async () => {
    const broker = (current = await dyingBroker(40, 20));
    const run = await runTs('simulators/cli.ts', ['--url', broker.url, '--devices', '4', '--rate', '200', '--duration', '2', '--qos', '1', '--prefix', 'gone', '--no-restore', '--drain-timeout', '1']);
    const line = /sent (\d+), acknowledged (\d+), failed (\d+), unacknowledged (\d+)/.exec(run.stdout);
    expect(line, run.stdout).not.toBeNull();
    const [sent, acknowledged, failed, unacknowledged] = line!.slice(1).map(Number) as [number, number, number, number];
    expect(unacknowledged).toBeGreaterThanOrEqual(20);
    expect(acknowledged + failed + unacknowledged).toBe(sent);
    expect(run.stderr).toContain(`${unacknowledged} of ${sent} readings were never acknowledged`);
    expect(run.code).toBe(2);
  });

  it('the native simulator ends and counts what was never acknowledged, instead of waiting for a broker that is gone', async () => {
    // zigbee2mqtt/<device> are the reports; bridge state and availability are the births.
    const broker = (current = await dyingBroker(40, 20, (topic) => /^zigbee2mqtt\/(?!bridge\/)[^/]+$/.test(topic)));
    const summary = await runNativeSimulation({ url: broker.url, family: 'zigbee2mqtt', devices: 4, rate: 100, duration: 2, qos: 1, prefix: 'gone', drainTimeoutMs: 1000 });
    await broker.killed;
    expect(summary.acknowledged).toBeGreaterThan(0);
    expect(summary.unacknowledged).toBeGreaterThanOrEqual(20);
    expect(summary.acknowledged + summary.failed + summary.unacknowledged).toBe(summary.messages);
  });
});

/** A real Aedes that acknowledges every publish, readings `delayMs` late (a gateway waiting on its group commit). */
async function slowBroker(delayMs: number): Promise<{ url: string; close: () => Promise<void> }> {
  const broker = await Aedes.createBroker({
    authorizePublish: (_client, packet, cb) => void (/^(sensors|zigbee2mqtt)\//.test(packet.topic) ? setTimeout(() => cb(null), delayMs) : cb(null)),
  });
  const server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}

describe('the simulator at the end of a run', () => {
  // --rate 0 sends every reading in one burst, so the run reaches its wait with all of them in
  // flight; a run that sat out its hour-long --drain-timeout would outlast the test's timeout.
  it('npm run simulate stops waiting as soon as every reading is acknowledged, however long --drain-timeout', async () => {
    const broker = await slowBroker(200);
    try {
      const run = await runTs('simulators/cli.ts', ['--url', broker.url, '--devices', '2', '--count', '50', '--rate', '0', '--qos', '1', '--prefix', 'drain', '--no-restore', '--drain-timeout', '3600']);
      expect(run.stdout).toMatch(/sent 50, acknowledged 50, failed 0, unacknowledged 0,/);
      expect(run.code).toBe(0);
    } finally {
      await broker.close();
    }
  });

  it('npm run simulate --family does the same', async () => {
    const broker = await slowBroker(200);
    try {
      const run = await runTs('simulators/cli.ts', ['--url', broker.url, '--family', 'zigbee2mqtt', '--devices', '2', '--count', '50', '--rate', '0', '--qos', '1', '--prefix', 'drain', '--drain-timeout', '3600']);
      expect(run.stdout).toMatch(/50 reports, (\d+) messages \(\1 acknowledged, 0 failed, 0 unacknowledged\)/);
      expect(run.code).toBe(0);
    } finally {
      await broker.close();
    }
  });

  it('npm run simulate --help names the cap on the wait', async () => {
    const run = await runTs('simulators/cli.ts', ['--help']);
    expect(run.stdout).toMatch(/--drain-timeout <s>\s+at the end, wait at most this many seconds/);
  });
});
