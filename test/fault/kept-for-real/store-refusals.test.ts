/**
 * Issue 14, situation 1: the store refuses for a while. A proxy in front of the real InfluxDB
 * answers 400, then 413, for every write (as a proxy or a misconfigured server does: that is
 * not proof that each point is bad). Every QoS 1 reading acknowledged meanwhile must be in
 * InfluxDB once the proxy passes writes again, and a dead letter must never be dropped.
 *
 * Written to fail on today's code (InfluxSink.isolateRejected dead-letters every line of a
 * refused batch, and gateway.ts drops a refused dead letter); the two controls pass today.
 */
import { describe, expect, inject, it } from 'vitest';
import { useCleanup } from '../../helpers/cleanup.js';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { query, rows } from '../../helpers/influx.js';
import { startInfluxProxy, type InfluxProxy, type RecordedWrite } from '../../helpers/influx-proxy.js';
import { marker, missingOf, publishQos1, storedIds } from '../../helpers/kept.js';
import { collect, connect } from '../../helpers/mqtt.js';
import { waitFor } from '../../helpers/wait.js';

const { defer } = useCleanup();
const DEVICES = 5;
const PER_DEVICE = 100;

async function setup(): Promise<{ proxy: InfluxProxy; gw: TestGateway; influx: string }> {
  const influx = inject('influxUrl');
  const proxy = await startInfluxProxy(influx);
  defer(() => proxy.stop());
  const gw = await startGateway({ influxUrl: proxy.url, env: { INFLUX_TIMEOUT_MS: '2000' } });
  defer(() => gw.stop());
  return { proxy, gw, influx };
}

/** Event ids (of readings) in the write bodies a predicate picks. */
function idsIn(writes: readonly RecordedWrite[], pick: (w: RecordedWrite) => boolean): Set<string> {
  const ids = new Set<string>();
  for (const w of writes) {
    if (!pick(w)) continue;
    for (const m of w.body.matchAll(/(?:^|\n)[a-z_]+,[^\n]*?event_id="([^"\\]+)"/g)) ids.add(m[1]!);
  }
  return ids;
}

async function devices(url: string, tag: string) {
  const clients = await Promise.all(Array.from({ length: DEVICES }, (_, d) => connect(url, { clientId: `${tag}-${d}` })));
  defer(() => Promise.all(clients.map((c) => c.endAsync(true))));
  return clients;
}

describe('issue 14 (1): a window of 400 or 413 answers from the store', () => {
  it('keeps every acknowledged reading through a 400 window and a 413 window, and drops no dead letter', { timeout: 180_000 }, async () => {
    const { proxy, gw, influx } = await setup();
    const watcher = await connect(gw.mqttUrl, { clientId: 'dl-watch' });
    defer(() => watcher.endAsync(true));
    const deadLetters = await collect(watcher, 'gateway/deadletter');
    const clients = await devices(gw.mqttUrl, 'win');
    const acked: string[] = [];
    const tsFrom = Date.now() - 60_000;

    for (const [status, tag] of [[400, 'w400'], [413, 'w413']] as const) {
      proxy.refuse(status);
      const ids = await publishQos1(clients, { site: `refuse${status}`, perDevice: PER_DEVICE, tsFrom, tag });
      expect(ids).toHaveLength(DEVICES * PER_DEVICE);
      acked.push(...ids);
      // The window lasts until the gateway has tried (and been refused) every one of them.
      await waitFor(() => {
        const refused = idsIn(proxy.writes, (w) => w.refusedByProxy);
        return ids.every((id) => refused.has(id));
      }, `every reading of the ${status} window refused once by the proxy`, 60_000, 100);
    }
    proxy.pass();

    // Published after the window: once it is in InfluxDB, everything before it was handled.
    await marker(watcher, influx, gw.db);
    const stored = await storedIds(influx, gw.db, 'temperature');
    expect.soft(missingOf(acked, stored), 'acknowledged readings missing from InfluxDB after the window').toEqual({ count: 0, first: [] });

    // Any dead letter the gateway announced during the window must have its row.
    const announced = deadLetters.messages.map((m) => m.json<{ id: string }>().id);
    const storedLetters = await storedIds(influx, gw.db, 'deadletters');
    expect(missingOf(announced, storedLetters), 'announced dead letters missing from InfluxDB').toEqual({ count: 0, first: [] });
  });

  it('keeps a dead letter the store refuses, says so on /readyz, and stores it once the store takes it', { timeout: 120_000 }, async () => {
    const { proxy, gw, influx } = await setup();
    // A real refusal by InfluxDB itself: in this shard `temperature.value` is already a string
    // (so the reading is refused) and `deadletters.topic` an integer (so its dead letter is too).
    const now = Date.now();
    await query(influx, gw.db, `CREATE DATABASE "${gw.db}"`);
    const seed = await fetch(`${influx}/write?db=${gw.db}&precision=ms`, {
      method: 'POST',
      body: `temperature,device=conflict,site=bad,zone=z1 value="text",event_id="seed-1" ${now}\ndeadletters,reason=seed topic=1i,event_id="seed-2" ${now}\n`,
    });
    expect(seed.status).toBe(204);

    const device = await connect(gw.mqttUrl, { clientId: 'conflict' });
    defer(() => device.endAsync(true));
    await device.publishAsync('sensors/bad/z1/conflict/temperature', JSON.stringify({ value: 21.5, id: 'bad-1' }), { qos: 1 });
    // InfluxDB refuses the reading, then the dead letter made of it.
    await waitFor(() => proxy.writes.some((w) => !w.refusedByProxy && w.status === 400 && w.body.startsWith('deadletters,')), 'InfluxDB to refuse the dead letter', 30_000, 100);

    const readyz = async () => {
      const res = await fetch(`${gw.httpUrl}/readyz`);
      return { status: res.status, body: (await res.json()) };
    };
    await waitFor(async () => (await readyz()).status === 503, '/readyz to say not ready while a refused dead letter waits', 10_000, 100).catch(() => undefined);
    expect.soft(await readyz(), '/readyz while a refused dead letter waits').toMatchObject({ status: 503 });

    // The operator fixes the store; the dead letter (kept, retried) must arrive.
    await query(influx, gw.db, 'DROP MEASUREMENT "deadletters"');
    const letters = () => rows(influx, gw.db, `SELECT event_id, reason, payload FROM deadletters WHERE reason = 'rejected_by_store'`);
    await waitFor(async () => (await letters()).length > 0, 'the refused dead letter to be stored once InfluxDB takes it', 30_000, 200).catch(() => undefined);
    expect(await letters(), 'rows of the dead letter of a point InfluxDB refused, once InfluxDB takes it').not.toEqual([]);
  });

  it('control (passes today): keeps every acknowledged reading through a 500 window', { timeout: 120_000 }, async () => {
    const { proxy, gw, influx } = await setup();
    const clients = await devices(gw.mqttUrl, 'w500');
    proxy.refuse(500);
    const acked = await publishQos1(clients, { site: 'refuse500', perDevice: PER_DEVICE, tsFrom: Date.now() - 60_000, tag: 'w500' });
    await waitFor(() => {
      const refused = idsIn(proxy.writes, (w) => w.refusedByProxy);
      return acked.every((id) => refused.has(id));
    }, 'every reading refused once by the proxy', 60_000, 100);
    proxy.pass();
    await marker(clients[0]!, influx, gw.db);
    expect(missingOf(acked, await storedIds(influx, gw.db, 'temperature'))).toEqual({ count: 0, first: [] });
  });

  it('control (passes today): a proxy body limit (413 above 2 KB) splits batches instead of losing them', { timeout: 120_000 }, async () => {
    const { proxy, gw, influx } = await setup();
    const clients = await devices(gw.mqttUrl, 'lim');
    proxy.refuse(413, { largerThan: 2048 });
    const acked = await publishQos1(clients, { site: 'limit413', perDevice: PER_DEVICE, tsFrom: Date.now() - 60_000, tag: 'lim' });
    await marker(clients[0]!, influx, gw.db);
    expect(proxy.writes.some((w) => w.refusedByProxy)).toBe(true);
    expect(missingOf(acked, await storedIds(influx, gw.db, 'temperature'))).toEqual({ count: 0, first: [] });
  });
});
