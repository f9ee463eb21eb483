/** The forwarder: the spool's second consumer, to one Redis stream per partition (a real Journal and redis-server). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Forwarder } from '../../../gateway/cluster/forwarder.js';
import { partitionOf } from '../../../gateway/core/partition.js';
import { connectRedis } from '../../../gateway/core/redis.js';
import { Journal, type JournalCursor } from '../../../gateway/storage/journal.js';
import { nodeDisk, type SpoolDisk } from '../../../gateway/storage/spool/disk.js';
import { startRedis } from '../../helpers/redis.js';
import { waitFor } from '../../helpers/wait.js';

const log = pino({ level: 'silent' });
const undo: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const u of undo.splice(0).reverse()) await u().catch(() => undefined);
});

const reading = (site: string, i: number) => `temperature,device=t,site=${site},zone=z value=${i},event_id="${site}-${i}" ${1_790_000_000_000 + i}\n`;

async function setup(maxBacklogBytes = 1 << 30, disk: SpoolDisk = nodeDisk) {
  const redis = await startRedis();
  undo.push(() => redis.stop());
  const dir = await mkdtemp(join(tmpdir(), 'gw-forward-'));
  undo.push(() => rm(dir, { recursive: true, force: true }));
  const journal = new Journal({ dir, maxBytes: 1 << 30, log, consumers: ['forward'], spaceEveryMs: 50 }, disk);
  await journal.open();
  undo.push(() => journal.close());
  const conn = connectRedis(redis.url, 'test-forward');
  conn.on('error', () => undefined);
  undo.push(async () => conn.disconnect());
  let skipped = 0;
  // The forwarder's cursor, counting how often the forwarder asked whether it crowds the disk (once per attempt at a batch).
  const cursor = journal.cursor('forward');
  let diskChecks = 0;
  const counted: JournalCursor = {
    take: (maxEvents, maxBytes) => cursor.take(maxEvents, maxBytes),
    confirm: (batch) => cursor.confirm(batch),
    onReadable: (listener) => cursor.onReadable(listener),
    stats: () => cursor.stats(),
    crowdsDisk: () => (diskChecks++, cursor.crowdsDisk()),
  };
  const forwarder = new Forwarder({ cursor: counted, redis: conn, nodeId: 'N', partitions: 4, log, maxBacklogBytes, skipped: (n) => (skipped += n) });
  forwarder.start();
  undo.push(() => forwarder.stop());
  const probe = new Redis(redis.url);
  probe.on('error', () => undefined);
  undo.push(async () => probe.disconnect());
  const stream = async (site: string) => ((await probe.xrange(`gw:stream:${partitionOf(site, 4)}`, '-', '+')) as [string, string[]][]).map(([, f]) => f[f.indexOf('l') + 1]!);
  const partition = async (p: number) => ((await probe.xrange(`gw:stream:${p}`, '-', '+')) as [string, string[]][]).map(([, f]) => f[f.indexOf('l') + 1]!);
  return { redis, journal, forwarder, stream, partition, skipped: () => skipped, diskChecks: () => diskChecks };
}

describe('the forwarder', () => {
  it('appends readings and armed zones to their site\'s partition stream, in order, and nothing else', async () => {
    const { journal, stream } = await setup();
    const sites = ['hq', 'north', 'south', 'east', 'west'];
    for (let i = 0; i < 20; i++) for (const site of sites) journal.append(reading(site, i));
    journal.append('zone_state,site=hq,zone=z armed=true,event_id="arm-1" 1790000000999\n');
    journal.append('commands,actuator=hvac,rule=r,site=hq,zone=z type="t",data="{}",correlation_id="x",event_id="c" 1\n');
    journal.append('deadletters,reason=invalid_json topic="t",payload="p",client_id="",detail="d",event_id="dl" 1\n');
    await journal.committed();
    await waitFor(() => journal.cursor('forward').stats().events === 0, 'everything forwarded and confirmed');
    for (const site of sites.filter((s) => s !== 'hq')) expect(await stream(site).then((l) => l.filter((x) => x.includes(`site=${site},`)))).toEqual(Array.from({ length: 20 }, (_, i) => reading(site, i).trimEnd()));
    const hq = (await stream('hq')).filter((l) => l.includes('site=hq'));
    expect(hq).toEqual([...Array.from({ length: 20 }, (_, i) => reading('hq', i).trimEnd()), 'zone_state,site=hq,zone=z armed=true,event_id="arm-1" 1790000000999']);
  });

  it('appends a device\'s status to every partition stream, in its place among the readings, and not the gateway\'s silences', async () => {
    const { journal, partition, forwarder } = await setup();
    const offline = 'device_status,device=smk-1 online=false,event_id="st-1" 1790000000500000000';
    journal.append(reading('hq', 1));
    journal.append(`${offline}\n`);
    journal.append('device_status,device=t-9 online=false,silent=true,event_id="si-1" 1790000000600000000\n');
    journal.append(reading('hq', 2));
    await journal.committed();
    await waitFor(() => journal.cursor('forward').stats().events === 0, 'everything forwarded and confirmed');
    const hq = partitionOf('hq', 4);
    for (let p = 0; p < 4; p++) expect(await partition(p)).toEqual(p === hq ? [reading('hq', 1).trimEnd(), offline, reading('hq', 2).trimEnd()] : [offline]);
    // Counted once, as an event of the spool.
    expect(forwarder.forwarded).toBe(3);
  });

  it('keeps what Redis did not take in the spool, and forwards it from there when Redis is back', async () => {
    const { redis, journal, stream } = await setup();
    await redis.kill();
    for (let i = 0; i < 10; i++) journal.append(reading('hq', i));
    await journal.committed();
    // Not confirmed while Redis is away (and the sink's consumer is not held up by it).
    expect(journal.cursor('forward').stats().events).toBe(10);
    await redis.restart();
    await waitFor(() => journal.cursor('forward').stats().events === 0, 'forwarded once Redis is back', 20_000);
    expect(await stream('hq')).toEqual(Array.from({ length: 10 }, (_, i) => reading('hq', i).trimEnd()));
  });

  it('passes over the oldest, counted, when more than its limit waits to be forwarded', async () => {
    const { redis, journal, skipped } = await setup(500);
    await redis.kill();
    for (let i = 0; i < 30; i++) {
      journal.append(reading('hq', i));
      await journal.committed();
    }
    await waitFor(() => skipped() > 0 && journal.cursor('forward').stats().bytes <= 500, 'the backlog cut to its limit', 20_000);
  });

  it('passes over, counted, what only it still needs once the disk under the spool is full (Redis away, InfluxDB has it all)', async () => {
    let free = 1 << 30;
    const disk: SpoolDisk = { ...nodeDisk, space: async () => ({ free, size: 1 << 30 }) };
    const { redis, journal, skipped, diskChecks } = await setup(1 << 30, disk);
    await redis.kill();
    for (let i = 0; i < 20; i++) {
      journal.append(reading('hq', i));
      await journal.committed();
    }
    // The sink has everything in InfluxDB; the forwarder nothing in Redis.
    for (let b = await journal.take(100); b; b = await journal.take(100)) journal.confirm(b);
    // The forwarder tries again (Redis away) and asks, the sink now ahead of it: with room on the disk, nothing is passed over.
    const checks = diskChecks();
    await waitFor(() => diskChecks() > checks || skipped() > 0, 'the forwarder to try again with the sink ahead of it', 20_000);
    expect(skipped()).toBe(0);
    free = 1024;
    await waitFor(() => skipped() === 20 && journal.cursor('forward').stats().events === 0, 'what only the forwarder held passed over', 20_000);
  });
});
