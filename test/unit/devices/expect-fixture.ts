/**
 * Checks one decoder answer against a fixture's `expect`: mapped readings exactly and in order,
 * listed unmapped keys present, actuator reports, ts, problems; availability; recognised traffic;
 * failure detail.
 */
import { expect } from 'vitest';
import { CONTRACT_UNITS, type DecodeResult } from '../../../gateway/devices/types.js';
import type { NativeFixture } from '../../fixtures/native/fixture.js';

export function expectFixture(f: NativeFixture, r: DecodeResult): void {
  const e = f.expect;
  if ('decoded' in e) {
    expect(r.outcome, `${f.name}: ${JSON.stringify(r)}`).toBe('decoded');
    if (r.outcome !== 'decoded') return;
    const d = e.decoded;
    expect(r.nativeId).toBe(d.nativeId);
    const mapped = r.readings.filter((x) => x.kind !== null).map((x) => ({ key: x.key, kind: x.kind, value: x.value, ...(x.channel === undefined ? {} : { channel: x.channel }) }));
    expect(mapped).toEqual(d.readings);
    for (const x of r.readings) if (x.kind !== null) expect(x.unit, `${f.name}: unit of ${x.key}`).toBe(CONTRACT_UNITS[x.kind]);
    const unmapped = r.readings.filter((x) => x.kind === null).map((x) => x.key);
    for (const k of d.unmapped ?? []) expect(unmapped, `${f.name}: unmapped ${k}`).toContain(k);
    for (const k of d.otherKeys ?? []) expect(r.otherKeys, `${f.name}: other key ${k}`).toContain(k);
    expect(r.actuators).toEqual(d.actuators ?? []);
    expect(r.ts).toBe(d.ts);
    expect(r.problems).toEqual(d.problems ?? []);
    return;
  }
  if ('availability' in e) {
    // What it taught the router (a bridge online: ask its output again) is the router's test's.
    // Which bridge (its base topic) a Zigbee2MQTT message came through is registry.ts's test's.
    expect({ ...r, learnt: undefined, base: undefined }, f.name).toEqual({ outcome: 'availability', family: expect.any(String), nativeId: e.availability.nativeId, online: e.availability.online, scope: e.availability.scope ?? 'device' });
    return;
  }
  if ('recognised' in e) {
    expect(r.outcome, `${f.name}: ${JSON.stringify(r)}`).toBe('recognised');
    if (r.outcome !== 'recognised') return;
    expect(r.what).toContain(e.recognised.what);
    if (e.recognised.nativeId !== undefined) expect(r.nativeId).toBe(e.recognised.nativeId);
    // The device just restarted or rejoined: `cameBack` is a part of why; absent, the message says no such thing.
    if (e.recognised.cameBack === undefined) expect(r.cameBack, f.name).toBeUndefined();
    else expect(r.cameBack).toContain(e.recognised.cameBack);
    return;
  }
  if ('failure' in e) {
    expect(r.outcome, `${f.name}: ${JSON.stringify(r)}`).toBe('failure');
    if (r.outcome === 'failure') expect(r.detail).toBe(e.failure.detail);
    return;
  }
  throw new Error(`${f.name}: expect ${Object.keys(e).join()} is checked by the family's own test`);
}
