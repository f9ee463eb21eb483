import { describe, expect, it } from 'vitest';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { defineKinds, kindSpec, releaseKinds, type Kind, type ReadingValue } from '../../../gateway/core/kinds.js';
import { parsePoint, routeOf } from '../../../gateway/storage/point-parse.js';
import { pointTime } from '../../../gateway/storage/line.js';
import { actuatorStatePoint, deviceSilencePoint, deviceStatusPoint, readingPoint, zoneArmedPoint, commandPoint } from '../../../gateway/storage/points.js';

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
    numeric: kindSpec(kind)!.toNumber(value),
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
    // At ns, with a sub-millisecond offset (a second event of the series in that millisecond).
    const line = readingPoint(r, pointTime(r.timeMs, 417_003)).trimEnd();
    expect(plain(parsePoint(line, r.timeMs + 5))).toEqual({ type: 'reading', event: r });
  });

  it('reads a line an older version left at ms (the record says so)', () => {
    const r = reading('temperature', 20.5);
    expect(plain(parsePoint(readingPoint(r, String(r.timeMs)).trimEnd(), r.timeMs + 5, false))).toEqual({ type: 'reading', event: r });
  });

  it('reads and routes a reading of a kind the device map added', () => {
    const owner = {};
    expect(defineKinds(owner, [{ name: 'air_pressure', unit: 'hPa', type: 'number' }])).toEqual([]);
    try {
      const r = reading('air_pressure', 1013.2);
      const line = readingPoint(r, pointTime(r.timeMs, 0));
      expect(routeOf(line)).toEqual({ measurement: 'air_pressure', site: 'hq' });
      expect(plain(parsePoint(line.trimEnd(), r.timeMs + 5))).toEqual({ type: 'reading', event: r });
    } finally {
      releaseKinds(owner);
    }
  });

  it('reads back and routes what an actuator reported (the sagas are ruled from it)', () => {
    const e = { id: 's-1', site: 'hq', zone: 'f2', actuator: 'hvac', state: { mode: 'cool', note: 'a "b" \\ c' }, device: 'zigbee2mqtt:0x1', time: new Date(1_790_000_000_000).toISOString(), timeMs: 1_790_000_000_000, clientId: undefined };
    const line = actuatorStatePoint(e, () => pointTime(e.timeMs, 12)).trimEnd();
    expect(routeOf(line)).toEqual({ measurement: 'actuator_state', site: 'hq' });
    expect(parsePoint(line, e.timeMs)).toEqual({ type: 'actuatorState', event: e });
  });

  it('reads back that the device had just come back (`came_back`, only when set), so a partition owner puts it back as one gateway does', () => {
    const e = { id: 's-2', site: 'hq', zone: 'f2', actuator: 'heater', state: { state: 'off' }, device: 'shelly:plus-1', time: new Date(1_790_000_000_000).toISOString(), timeMs: 1_790_000_000_000, clientId: undefined, cameBack: 'Shelly switch:0 status source "init" (set at power-on) \\ x' };
    const line = actuatorStatePoint(e, () => pointTime(e.timeMs, 12)).trimEnd();
    expect(line).toContain(',came_back="Shelly switch:0 status source \\"init\\" (set at power-on) \\\\ x",event_id="s-2" ');
    expect(routeOf(line)).toEqual({ measurement: 'actuator_state', site: 'hq' });
    expect(parsePoint(line, e.timeMs)).toEqual({ type: 'actuatorState', event: e });
    // Without it, the line is as before (no field), and read back without it.
    const { cameBack: _, ...plainReport } = e;
    const before = actuatorStatePoint(plainReport, () => pointTime(e.timeMs, 12)).trimEnd();
    expect(before).not.toContain('came_back');
    expect(parsePoint(before, e.timeMs)).toEqual({ type: 'actuatorState', event: plainReport });
    expect(Object.keys((parsePoint(before, e.timeMs)?.event ?? {}) as object)).not.toContain('cameBack');
  });

  it('reads back a reading without seq', () => {
    const r = reading('humidity', 40, { seq: undefined });
    expect(plain(parsePoint(readingPoint(r, pointTime(r.timeMs, 0)).trimEnd(), r.timeMs + 5))).toEqual({ type: 'reading', event: r });
  });

  it('reads back an armed zone', () => {
    const e = { id: 'z-1', site: 'hq', zone: 'f2', armed: true, time: new Date(1000).toISOString(), timeMs: 1000 };
    const line = zoneArmedPoint(e, () => pointTime(1000, 0)).trimEnd();
    expect(parsePoint(line, 1000)).toEqual({ type: 'zoneArmed', event: e });
    expect(routeOf(line)).toEqual({ measurement: 'zone_state', site: 'hq' });
  });

  it('routes readings by site and leaves every other measurement alone', () => {
    const r = reading('temperature', 21);
    expect(routeOf(readingPoint(r, pointTime(r.timeMs, 0)))).toEqual({ measurement: 'temperature', site: 'hq' });
    const command = commandPoint(
      { kind: 'command', id: 'c', timeMs: 1, topic: 'commands/hq/f1/hvac', site: 'hq', zone: 'f1', actuator: 'hvac', rule: 'r', cloudEvent: { specversion: '1.0', id: 'c', type: 't', source: 's', time: 't', datacontenttype: 'application/json', correlationid: 'x', data: {} } },
      () => pointTime(1, 0),
    );
    expect(routeOf(command)).toBeUndefined();
    expect(parsePoint(command.trimEnd(), 1)).toBeUndefined();
  });

  it('reads back what a device said on its status topic, routed to no one site (every partition), and leaves the gateway\'s silences alone', () => {
    const e = { id: 'st-"1"', device: 'smk-1', online: false, time: new Date(1_790_000_000_007).toISOString(), timeMs: 1_790_000_000_007, clientId: undefined };
    const line = deviceStatusPoint(e, () => pointTime(e.timeMs, 3)).trimEnd();
    expect(routeOf(line)).toEqual({ measurement: 'device_status', site: undefined });
    expect(parsePoint(line, e.timeMs)).toEqual({ type: 'deviceStatus', event: e });
    expect(parsePoint(deviceStatusPoint(e, () => String(e.timeMs)).trimEnd(), e.timeMs, false)).toEqual({ type: 'deviceStatus', event: e });
    // The rules do not take silences on one gateway either (rules/service.ts listens to deviceStatus only).
    const silence = deviceSilencePoint({ id: 'si-1', device: 'smk-1', silent: true, lastHeardMs: 1, time: e.time, timeMs: e.timeMs }, () => pointTime(e.timeMs, 0));
    expect(routeOf(silence)).toBeUndefined();
    expect(parsePoint(silence.trimEnd(), e.timeMs)).toBeUndefined();
  });
});
