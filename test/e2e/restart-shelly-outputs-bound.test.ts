/**
 * What the gateway retains of Gen2+ Shellys' outputs (`$gateway/devices/learnt/shelly/<id>`, outside
 * every client's retained budget) stays within what its learnt table holds (10,000 devices): a
 * device forgotten to make room for another (counted in gateway_memory_evictions_total{map="shelly_outputs"})
 * has its retained message deleted too, so it is neither in the broker's snapshot nor learnt again
 * at the restart. Before, one retained message per Shelly id ever seen (unplaced ones included)
 * stayed for good: the snapshot grew without a bound.
 *
 * Real gateway (stopped and started on the same DATA_DIR), real InfluxDB; the first and last
 * devices over a real MQTT client, the 10,000 between handed to the gateway's router in-process
 * (the same path, without 10,000 round trips).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode, readSnapshot, writeAtomically } from '../../gateway/broker/snapshot-file.js';
import { KEPT_SHELLY_PREFIX } from '../../gateway/devices/kept-learning.js';
import type { TestGateway } from '../helpers/gateway.js';
import { uniqueDb } from '../helpers/influx.js';
import { connect } from '../helpers/mqtt.js';
import { startWithMap } from '../helpers/native.js';
import { scrape } from '../helpers/prometheus.js';
import { waitFor } from '../helpers/wait.js';

const id = (i: number): string => `shellyplus1-bound${String(i).padStart(6, '0')}`;
const status = (i: number): [string, Buffer] => [`${id(i)}/status/switch:0`, Buffer.from(JSON.stringify({ id: 0, source: 'init', output: false, apower: 0, voltage: 230.2 }))];
const MAP = { actuators: { 'hq/f2/lights': `shelly:${id(10_002)}` } };
/** The first two over MQTT, 10,000 in-process, the last over MQTT: 10,003, three past the bound. */
const LAST = 10_002;

let dataDir: string;
const db = uniqueDb('restart_shelly_outputs_bound');
let gw: TestGateway;
let kept: string[];

const start = async (): Promise<void> => {
  gw = await startWithMap(MAP, { dataDir, db, rulesDir: resolve(import.meta.dirname, '..', 'fixtures', 'rules-relay'), env: { STATS_INTERVAL_MS: '0' } });
};
const evictions = async (): Promise<number> => (await scrape(gw.httpUrl)).value('gateway_memory_evictions_total', { map: 'shelly_outputs' });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-shelly-bound-'));
  await start();
  const firmware = await connect(gw.mqttUrl, { clientId: 'shelly-bound-firmware' });
  const { router } = gw.gateway.devices;
  for (const i of [0, 1]) await firmware.publishAsync(...status(i), { qos: 1 });
  await waitFor(() => router.learnt.shellyOutputs(id(1)) !== undefined, 'the first two learnt');
  for (let i = 2; i < LAST; i++) router.route(...status(i), Date.now());
  await firmware.publishAsync(...status(LAST), { qos: 1 });
  await waitFor(() => router.learnt.shellyOutputs(id(LAST)) !== undefined, 'the last learnt');
  await firmware.endAsync();
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('what the gateway retains of Shellys’ outputs, past 10,000 devices', () => {
  it('counts each device forgotten in /metrics', async () => {
    expect(await evictions()).toBe(3);
  });

  it('keeps in the broker’s snapshot the 10,000 the learnt table holds, not those it forgot', async () => {
    await gw.stop();
    const { snapshot } = await readSnapshot(join(dataDir, 'mqtt-state.bin'), Date.now());
    kept = (snapshot?.retained ?? []).map((r) => r.topic).filter((t) => t.startsWith(KEPT_SHELLY_PREFIX));
    expect(kept.length).toBe(10_000);
    expect([0, 1, 2].filter((i) => kept.includes(`${KEPT_SHELLY_PREFIX}${id(i)}`))).toEqual([]);
    expect(kept).toContain(`${KEPT_SHELLY_PREFIX}${id(LAST)}`);
  });

  it('after the restart, learns again those it kept, and forgets nothing to do so', async () => {
    await start();
    const { learnt } = gw.gateway.devices.router;
    expect([learnt.shellyOutputs(id(0)), learnt.shellyOutput(id(3), '0'), learnt.shellyOutput(id(LAST), '0')]).toEqual([undefined, 'switch', 'switch']);
    expect(await evictions()).toBe(0);
  });

  it('a snapshot holding more (as an older gateway left it) keeps after the restart those the table holds', async () => {
    await gw.stop();
    const file = join(dataDir, 'mqtt-state.bin');
    const { snapshot } = await readSnapshot(file, Date.now());
    const stale = [0, 1, 2].map((i) => ({ topic: `${KEPT_SHELLY_PREFIX}${id(i)}`, qos: 0, owner: '', payload: Buffer.from('{"0":["switch"]}') }));
    await writeAtomically(file, encode({ retained: [...snapshot!.retained, ...stale], sessions: snapshot!.sessions, wills: snapshot!.wills }));
    await start();
    expect(await evictions()).toBe(3);
    const { learnt } = gw.gateway.devices.router;
    const held = Array.from({ length: LAST + 1 }, (_, i) => id(i)).filter((d) => learnt.shellyOutputs(d) !== undefined);
    await gw.stop();
    const after = (await readSnapshot(file, Date.now())).snapshot!.retained.map((r) => r.topic).filter((t) => t.startsWith(KEPT_SHELLY_PREFIX));
    expect(held.length).toBe(10_000);
    expect(after.sort()).toEqual(held.map((d) => `${KEPT_SHELLY_PREFIX}${d}`).sort());
  });
});
