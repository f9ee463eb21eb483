import { describe, expect, it } from 'vitest';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { KINDS, type Kind, type ReadingValue } from '../../../gateway/core/kinds.js';
import { parsePoint, routeOf } from '../../../gateway/storage/point-parse.js';
import { readingPoint, zoneArmedPoint, commandPoint } from '../../../gateway/storage/points.js';

function reading(kind: Kind, value: ReadingValue, over: Partial<ReadingEvent> = {}): ReadingEvent {
  const timeMs = 1_790_000_000_123;
  return {
    id: 't-1-"quoted"\\back',
    type: `sensor.${kind}`,
    source: 'hq/f1/t-1',
    time: new Date(timeMs).toISOString(),
    receivedAt: new Date(timeMs + 5).toISOString(),
    seq: 17,
    site: 'hq',
    zone: 'f1',
    device: 't-1',
    kind,
    value,
    numeric: KINDS[kind].toNumber(value),
    timeMs,
    clientId: undefined,
    ...over,
  };
}

/** A reading as a plain object (the envelope formats its times when read). */
const plain = (p: ReturnType<typeof parsePoint>): unknown => {
  if (p?.type !== 'reading') return p;
  const { id, type, source, time, receivedAt, seq, site, zone, device, kind, value, numeric, timeMs, clientId } = p.event;
  return { type: 'reading', event: { id, type, source, time, receivedAt, seq, site, zone, device, kind, value, numeric, timeMs, clientId } };
};

describe('spool lines back to events (what the cluster forwards to the rules)', () => {
  it.each([
    ['temperature', 23.4],
    ['temperature', -5],
    ['smoke', true],
    ['contact', false],
    ['keypad', 'fail'],
    ['keypad', 'ok'],
    ['co2', 1200],
  ] as [Kind, ReadingValue][])('reads back a %s reading of %s exactly as it was kept', (kind, value) => {
    const r = reading(kind, value);
    const line = readingPoint(r, r.timeMs).trimEnd();
    expect(plain(parsePoint(line, r.timeMs + 5))).toEqual({ type: 'reading', event: r });
  });

  it('reads back a reading without seq', () => {
    const r = reading('humidity', 40, { seq: undefined });
    expect(plain(parsePoint(readingPoint(r, r.timeMs).trimEnd(), r.timeMs + 5))).toEqual({ type: 'reading', event: r });
  });

  it('reads back an armed zone', () => {
    const e = { id: 'z-1', site: 'hq', zone: 'f2', armed: true, time: new Date(1000).toISOString(), timeMs: 1000 };
    const line = zoneArmedPoint(e, 1000).trimEnd();
    expect(parsePoint(line, 1000)).toEqual({ type: 'zoneArmed', event: e });
    expect(routeOf(line)).toEqual({ measurement: 'zone_state', site: 'hq' });
  });

  it('routes readings by site and leaves every other measurement alone', () => {
    const r = reading('temperature', 21);
    expect(routeOf(readingPoint(r, r.timeMs))).toEqual({ measurement: 'temperature', site: 'hq' });
    const command = commandPoint(
      { kind: 'command', id: 'c', timeMs: 1, topic: 'commands/hq/f1/hvac', site: 'hq', zone: 'f1', actuator: 'hvac', rule: 'r', cloudEvent: { specversion: '1.0', id: 'c', type: 't', source: 's', time: 't', datacontenttype: 'application/json', correlationid: 'x', data: {} } },
      1,
    );
    expect(routeOf(command)).toBeUndefined();
    expect(parsePoint(command.trimEnd(), 1)).toBeUndefined();
  });
});
