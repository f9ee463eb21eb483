/**
 * The gateway process is killed with SIGKILL under QoS 1 load and started again on the same
 * DATA_DIR and ports: every reading it had acknowledged ends up in InfluxDB exactly once (the
 * spool is replayed; devices resend what was never acknowledged).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { runSimulation } from '../../simulators/simulator.js';
import { allAcknowledgedStored } from '../helpers/fleet.js';
import { uniqueDb } from '../helpers/influx.js';
import { spawnGateway } from '../helpers/process.js';
import { restartablePort } from '../helpers/restartable-port.js';
import { useCleanup } from '../helpers/cleanup.js';

const { defer, track } = useCleanup();

describe('gateway crash', () => {
  it('after SIGKILL under QoS 1 load and a restart, every acknowledged reading is stored exactly once', { timeout: 180_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'gw-crash-'));
    defer(() => rm(dataDir, { recursive: true, force: true }));
    const influx = inject('influxUrl');
    const db = uniqueDb();
    // A long flush interval keeps events in the spool, not yet in InfluxDB, when the kill comes.
    const env = { DATA_DIR: dataDir, INFLUX_URL: influx, INFLUX_DB: db, INFLUX_FLUSH_MS: '2000', RULES_DIR: 'rules', HTTP_PORT: '0', MQTT_WS_PORT: '0' };
    const first = track(spawnGateway({ ...env, MQTT_PORT: String(await restartablePort()) }));
    const ports = await first.started();

    const acked = new Set<string>();
    const load = runSimulation({
      // Exactly the readings counted: no closing readings for the doors left open.
      restore: false,
      url: `mqtt://127.0.0.1:${ports.mqtt}`,
      devices: 30,
      rate: 1500,
      duration: 12,
      qos: 1,
      prefix: 'crash',
      onAck: (r) => acked.add(r.id),
      drainTimeoutMs: 60_000,
    });
    await sleep(4000);
    const ackedAtKill = acked.size;
    first.child.kill('SIGKILL');
    expect(await first.exited).toBeNull();
    expect(ackedAtKill).toBeGreaterThan(1000);
    await sleep(1500);

    const second = track(spawnGateway({ ...env, MQTT_PORT: String(ports.mqtt) }));
    await second.started();
    expect(second.logs.some((l) => l.msg.startsWith('spool holds events the last run had not written to InfluxDB yet'))).toBe(true);
    const summary = await load;
    expect(summary.acknowledged).toBeGreaterThan(ackedAtKill);

    const check = await allAcknowledgedStored(influx, db, acked, 60_000);
    expect(check.missing).toEqual([]);
    expect(check.duplicated).toEqual([]);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
