import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReadingEvent, ZoneArmedEvent } from '../../../gateway/core/events.js';
import { EventStore } from '../../../gateway/storage/event-store.js';
import { Journal } from '../../../gateway/storage/journal.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function openStore(maxBytes = 1 << 20): Promise<{ store: EventStore; journal: Journal; lines: () => Promise<string[]> }> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-store-'));
  dirs.push(dir);
  const journal = new Journal({ dir, maxBytes, log: pino({ level: 'silent' }) });
  await journal.open();
  const lines = async (): Promise<string[]> => {
    await journal.committed();
    const batch = await journal.take(1000);
    return batch ? Buffer.concat(batch.bodies).toString().split('\n').filter(Boolean) : [];
  };
  return { store: new EventStore(journal), journal, lines };
}

const armed = (id: string, armedNow: boolean, timeMs: number): ZoneArmedEvent => ({ id, site: 'hq', zone: 'f1', armed: armedNow, time: new Date(timeMs).toISOString(), timeMs });
const timeOf = (line: string): string => line.slice(line.lastIndexOf(' ') + 1);

describe('EventStore (the store port on the spool)', () => {
  it('gives two events of one series in the same millisecond two points, whoever made them (ingest or the rules)', async () => {
    const { store, journal, lines } = await openStore();
    // One from `zones/hq/f1/armed` over MQTT, one from setArmed() in code, same millisecond.
    expect(store.keep('zoneArmed', armed('a', true, 1_000))).toBe(true);
    expect(store.keep('zoneArmed', armed('b', false, 1_000))).toBe(true);
    const [first, second] = await lines();
    expect(first).toContain('event_id="a"');
    expect(second).toContain('event_id="b"');
    expect(timeOf(first!)).not.toBe(timeOf(second!));
    await journal.close();
  });

  it('stores a reading at its own time, as the contract says', async () => {
    const { store, journal, lines } = await openStore();
    const reading = { id: 'r1', kind: 'temperature', site: 'hq', zone: 'f1', device: 't1', numeric: 21.5, seq: 3, timeMs: 1_795_428_000_000 } as ReadingEvent;
    store.keep('reading', reading);
    expect(await lines()).toEqual(['temperature,device=t1,site=hq,zone=f1 value=21.5,seq=3i,event_id="r1" 1795428000000']);
    await journal.close();
  });

  it('refuses when the spool is full, unless the event must always be kept', async () => {
    const { store, journal } = await openStore(1);
    expect(store.keep('zoneArmed', armed('a', true, 1))).toBe(true);
    expect(store.isFull()).toBe(true);
    expect(store.keep('zoneArmed', armed('b', true, 2))).toBe(false);
    expect(store.keep('zoneArmed', armed('c', true, 3), true)).toBe(true);
    await journal.close();
  });
});
