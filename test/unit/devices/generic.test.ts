import { describe, expect, it } from 'vitest';
import { compileMapping, decode, type GenericMapping } from '../../../gateway/devices/families/generic.js';

const lab: GenericMapping = {
  name: 'lab',
  topic: 'lab/{room}/{sensor}/telemetry',
  id: '{room}-{sensor}',
  format: 'json',
  fields: [
    { path: 'env.temp_f', key: 'temp', kind: 'temperature', unit: 'F' },
    { path: 'env.rh', kind: 'humidity' },
    { path: 'door', kind: 'contact', invert: true },
    { path: 'rssi' },
  ],
  time: { path: 'ts', format: 'unix_ms' },
};

function compiled(m: GenericMapping) {
  const c = compileMapping(m);
  if (!c.ok) throw new Error(c.reason);
  return [c.compiled];
}

describe('generic mapping (topic_parsing + json_v2 style)', () => {
  it('names the device from topic segments and reads each field in contract units', () => {
    const r = decode(compiled(lab), 'lab/r1/s7/telemetry', Buffer.from('{"env":{"temp_f":68,"rh":"41"},"door":true,"rssi":-61,"ts":1767225600000}'));
    expect(r).toEqual({
      outcome: 'decoded',
      family: 'generic',
      nativeId: 'r1-s7',
      readings: [
        { key: 'temp', kind: 'temperature', value: 20, unit: '°C' },
        { key: 'env.rh', kind: 'humidity', value: 41, unit: '%' },
        { key: 'door', kind: 'contact', value: false },
        { key: 'rssi', kind: null, value: -61 },
      ],
      actuators: [],
      otherKeys: [],
      problems: [],
      ts: '2026-01-01T00:00:00.000Z',
    });
  });

  it('reads a bare value payload and a # tail', () => {
    const m: GenericMapping = { name: 'bare', topic: 'plant/{id}/#', id: '{id}', format: 'value', fields: [{ kind: 'power', unit: 'kW' }] };
    expect(decode(compiled(m), 'plant/p1/meter/active', Buffer.from('1.25'))).toMatchObject({ nativeId: 'p1', readings: [{ key: 'value', kind: 'power', value: 1250 }] });
  });

  it('reports missing and bad fields by key', () => {
    expect(decode(compiled(lab), 'lab/r1/s7/telemetry', Buffer.from('{"env":{"temp_f":"n/a"}}'))).toMatchObject({ outcome: 'failure', detail: expect.stringContaining('generic:r1-s7: temp is "n/a", not a number; env.rh is missing') });
  });

  it('does not match other topics', () => {
    expect(decode(compiled(lab), 'lab/r1/telemetry', Buffer.from('{}'))).toEqual({ outcome: 'not_mine' });
    expect(decode(compiled(lab), 'lab/r1/s7/telemetry/x', Buffer.from('{}'))).toEqual({ outcome: 'not_mine' });
  });

  it.each([
    [{ ...lab, topic: 'lab/#/x' }, '# may only end'],
    [{ ...lab, id: '{nope}' }, 'does not capture'],
    [{ ...lab, id: 'fixed' }, 'at least one captured'],
    [{ ...lab, topic: 'lab/{a}/{a}' }, 'twice'],
    [{ ...lab, topic: 'lab/x{a}' }, 'neither literal'],
    [{ ...lab, fields: [] }, 'no fields'],
    [{ ...lab, fields: [{ kind: 'radiation' as never }] }, 'unknown kind'],
  ])('refuses a broken mapping: %#', (m, why) => {
    const c = compileMapping(m);
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.reason).toContain(why);
  });
});
