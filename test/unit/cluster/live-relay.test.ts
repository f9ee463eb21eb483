/**
 * The live relay between nodes (a real redis-server): a message it cannot read is skipped and said,
 * never thrown; what it drops past its bounds is counted and said.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../../gateway/core/bus.js';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { connectRedis } from '../../../gateway/core/redis.js';
import { LiveRelay } from '../../../gateway/cluster/live-relay.js';
import { KEYS } from '../../../gateway/cluster/redis-keys.js';
import { count, testMetrics } from '../../helpers/ports.js';
import { startRedis } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';

const undo: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const u of undo.splice(0).reverse()) await u();
});

describe('LiveRelay', () => {
  it('skips (and says) a message from another node it cannot read, and relays the next one', async () => {
    const redis = await startRedis();
    undo.push(() => redis.stop());
    const lines: { msg: string }[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as { msg: string }) });
    const liveBus = new EventBus(log);
    let unreadable = 0;
    const relay = new LiveRelay({ redisUrl: redis.url, nodeId: 'a', bus: new EventBus(log), liveBus, pushMs: 20, log, unreadable: { inc: (n = 1) => void (unreadable += n) } });
    await relay.start();
    undo.push(() => relay.stop());
    const heard: ReadingEvent[] = [];
    liveBus.on('reading', (r) => void heard.push(r));
    const other = connectRedis(redis.url, 'test-other-node');
    undo.push(async () => other.disconnect());
    // start() resolves once SUBSCRIBE is answered; CI runs twice saw no receiver on the publish below
    // all the same (not reproduced here in 32 runs): wait until Redis counts the subscriber.
    await waitFor(async () => (((await other.pubsub('NUMSUB', KEYS.live)) as [string, number])[1] >= 1 ? true : undefined), 'the relay subscribed');
    // A node of another version: no readings array; then valid JSON that is not an object; then a good batch.
    await other.publish(KEYS.live, JSON.stringify({ node: 'b', events: [] }));
    await other.publish(KEYS.live, 'null');
    // Items it cannot read (a time that is no time, null, an unknown event) are skipped, the rest relayed: a RangeError here would end the process.
    await other.publish(KEYS.live, JSON.stringify({ node: 'b', readings: [null, { d: 't8', s: 'hq', z: 'f1', k: 'temperature', v: 1, t: 'x' }, {}], events: [null, { name: 'nope', event: {} }] }));
    // One receiver: this relay's subscription (start() resolves once it holds).
    const receivers = await other.publish(KEYS.live, JSON.stringify({ node: 'b', readings: [null, { d: 't9', s: 'hq', z: 'f1', k: 'temperature', v: 21, t: 1_790_000_000_000 }], events: [] }));
    expect([receivers, receivers === 1 ? [] : lines.map((l) => l.msg)]).toEqual([1, []]);
    // On a timeout the expectation below says what was heard instead.
    await waitFor(() => heard.some((r) => r.device === 't9'), 'the good batch relayed').catch(() => undefined);
    expect(heard.map((r) => r.device)).toEqual(['t9']);
    expect(heard[0]).toMatchObject({ device: 't9', site: 'hq', zone: 'f1', kind: 'temperature', value: 21 });
    expect(lines.filter((l) => l.msg.startsWith('a live-page message from another node could not be read')).length).toBeGreaterThan(0);
    // Counted too: two messages it could not read, then their items (null, t8, {}, null, the unknown event; then null).
    expect(unreadable).toBe(2 + 5 + 1);
    expect(lines.filter((l) => l.msg.startsWith('items of a live-page message from another node could not be read')).length).toBeGreaterThan(0);
  });

  it('keeps at most its limit of device readings in Redis for starting nodes, forgetting the oldest first', async () => {
    const redis = await startRedis();
    undo.push(() => redis.stop());
    const log = pino({ level: 'silent' });
    const bus = new EventBus(log);
    const check = connectRedis(redis.url, 'test-check');
    undo.push(async () => check.disconnect());
    // An older version left fields with no index entry: they go first.
    await check.hset(KEYS.liveDevices, 'old1|temperature', '{}', 'old2|temperature', '{}', 'old3|temperature', '{}');
    const relay = new LiveRelay({ redisUrl: redis.url, nodeId: 'a', bus, liveBus: new EventBus(log), pushMs: 10, log, maxReadings: 5, unreadable: { inc: () => undefined } });
    await relay.start();
    undo.push(() => relay.stop());
    // Twelve made-up devices, heard one after another (flushed every fourth): the oldest go.
    for (let i = 0; i < 12; i++) {
      const t = 1_790_000_000_000 + i;
      bus.emit('reading', { id: `r${i}`, type: 'sensor.temperature', source: `hq/f1/d${i}`, time: '', receivedAt: '', seq: undefined, site: 'hq', zone: 'f1', device: `d${i}`, kind: 'temperature', value: 20, numeric: 20, timeMs: t, clientId: undefined });
      if (i % 4 === 3) {
        await waitFor(async () => (await check.hexists(KEYS.liveDevices, `d${i}|temperature`)) === 1, `reading ${i} kept`);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    // The last flush (d8–d11) and one of the one before (d4–d7: heard at the same moment, so which one is Redis' order).
    const kept = Object.keys(await check.hgetall(KEYS.liveDevices));
    expect(kept).toHaveLength(5);
    expect(kept).toEqual(expect.arrayContaining(['d8|temperature', 'd9|temperature', 'd10|temperature', 'd11|temperature']));
    expect(kept.some((f) => f.startsWith('old'))).toBe(false);
    expect(await check.zcard(KEYS.liveDevicesSeen)).toBe(5);
    // The script goes once per connection (EVAL), then by its SHA (EVALSHA) on every later flush.
    const calls = async (command: string): Promise<number> => Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(await check.info('commandstats'))?.[1] ?? 0);
    expect(await calls('eval')).toBe(1);
    expect(await calls('evalsha')).toBeGreaterThanOrEqual(2);
    // Redis forgot its scripts (SCRIPT FLUSH; a restart does the same): the next flush still keeps its reading.
    await check.script('FLUSH');
    bus.emit('reading', { id: 'r12', type: 'sensor.temperature', source: 'hq/f1/d12', time: '', receivedAt: '', seq: undefined, site: 'hq', zone: 'f1', device: 'd12', kind: 'temperature', value: 20, numeric: 20, timeMs: 1_790_000_000_012, clientId: undefined });
    await waitFor(async () => (await check.hexists(KEYS.liveDevices, 'd12|temperature')) === 1, 'reading 12 kept after SCRIPT FLUSH');
    expect(await check.hlen(KEYS.liveDevices)).toBe(5);
  });

  it('relays a device\'s status however many other events come in the same interval, and keeps it for starting nodes', async () => {
    const redis = await startRedis();
    undo.push(() => redis.stop());
    const log = pino({ level: 'silent' });
    const bus = new EventBus(log);
    const onA = new LiveRelay({ redisUrl: redis.url, nodeId: 'a', bus, liveBus: new EventBus(log), pushMs: 200, log, unreadable: { inc: () => undefined } });
    await onA.start();
    undo.push(() => onA.stop());
    const bLive = new EventBus(log);
    const onB = new LiveRelay({ redisUrl: redis.url, nodeId: 'b', bus: new EventBus(log), liveBus: bLive, pushMs: 200, log, unreadable: { inc: () => undefined } });
    const statuses: { device: string; online: boolean }[] = [];
    bLive.on('deviceStatus', (e) => void statuses.push({ device: e.device, online: e.online }));
    let deadLetters = 0;
    bLive.on('deadletter', () => void deadLetters++);
    await onB.start();
    undo.push(() => onB.stop());
    // A device says online, then 150 dead letters in the same interval (devices reconnecting after a node died, resending their queue).
    bus.emit('deviceStatus', { id: 's1', device: 'ad19', online: true, time: new Date(1_790_000_000_000).toISOString(), timeMs: 1_790_000_000_000, clientId: 'ad19' });
    for (let i = 0; i < 150; i++) bus.emit('deadletter', { id: `dl${i}`, topic: 'sensors/hq/f1/x/temperature', payload: 'x', reason: 'invalid_json', detail: '', receivedAt: '', timeMs: 1_790_000_000_001, clientId: 'x' });
    await waitFor(() => deadLetters >= 100, 'the batch relayed to B');
    await waitFor(() => statuses.length > 0, 'the status relayed to B').catch(() => undefined);
    expect(statuses).toEqual([{ device: 'ad19', online: true }]);
    // The feed still carries the newest hundred dead letters only.
    expect(deadLetters).toBe(100);
    const check = connectRedis(redis.url, 'test-check');
    undo.push(async () => check.disconnect());
    expect(await check.hexists(KEYS.liveSaid, 'deviceStatus|ad19')).toBe(1);
  });

  it('counts what it drops past its bounds in /metrics and says it once per burst: an interval\'s states and feed, and what Redis keeps', async () => {
    const redis = await startRedis();
    undo.push(() => redis.stop());
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    const bus = new EventBus(log);
    const metrics = testMetrics(new ManualClock(0));
    const relay = new LiveRelay({ redisUrl: redis.url, nodeId: 'a', bus, liveBus: new EventBus(log), pushMs: 200, log, maxReadings: 3, metrics, unreadable: { inc: () => undefined } });
    await relay.start();
    undo.push(() => relay.stop());
    // In one interval: 5 devices say online (3 states kept), 120 dead letters (the feed keeps 100).
    for (let i = 0; i < 5; i++) bus.emit('deviceStatus', { id: `s${i}`, device: `ad${i}`, online: true, time: '', timeMs: 1_790_000_000_000 + i, clientId: `ad${i}` });
    for (let i = 0; i < 120; i++) bus.emit('deadletter', { id: `dl${i}`, topic: 'sensors/hq/f1/x/temperature', payload: 'x', reason: 'invalid_json', detail: '', receivedAt: '', timeMs: 1_790_000_000_001, clientId: 'x' });
    // And 5 devices' readings: Redis keeps 3 for starting nodes.
    for (let i = 0; i < 5; i++) bus.emit('reading', { id: `r${i}`, type: 'sensor.temperature', source: `hq/f1/d${i}`, time: '', receivedAt: '', seq: undefined, site: 'hq', zone: 'f1', device: `d${i}`, kind: 'temperature', value: 20, numeric: 20, timeMs: 1_790_000_000_000, clientId: undefined });
    const evicted = (map: string) => count(metrics, 'gateway_memory_evictions_total', { map });
    await waitFor(async () => (await evicted('live_relay_kept')) === 2, 'Redis’ forgetting counted');
    expect([await evicted('live_relay_states'), await evicted('live_relay_feed')]).toEqual([2, 20]);
    expect(lines.filter((l) => l['code'] === 'GW_ERR_MEMORY_BOUND').map((l) => l['map'])).toEqual(['live_relay_states', 'live_relay_feed', 'live_relay_kept']);
  });
});
