import { afterEach, describe, expect, it } from 'vitest';
import { defineKinds, isKind, kindNames, kindSpec, onKindsChanged, releaseKinds, KIND_NAMES } from '../../../gateway/core/kinds.js';
import { decodeReading } from '../../../gateway/ingest/payload.js';

const a = {};
const b = {};
afterEach(() => {
  releaseKinds(a);
  releaseKinds(b);
});

describe('the kinds registry', () => {
  it('has the contract kinds built in', () => {
    expect(KIND_NAMES).toHaveLength(11);
    expect(kindNames()).toEqual(KIND_NAMES);
    expect(kindSpec('temperature')?.builtin).toBe(true);
  });

  it('takes kinds a device map adds, validates their values, and lets them go again', () => {
    let changes = 0;
    const off = onKindsChanged(() => changes++);
    expect(defineKinds(a, [{ name: 'pressure', unit: 'hPa', type: 'number', minimum: 300, maximum: 1100 }, { name: 'leak', unit: 'bool', type: 'boolean' }])).toEqual([]);
    expect(isKind('pressure')).toBe(true);
    expect(kindNames()).toEqual([...KIND_NAMES, 'pressure', 'leak']);
    expect(decodeReading('pressure', Buffer.from('1013.2'), 0, 65536)).toMatchObject({ ok: true, reading: { value: 1013.2 } });
    expect(decodeReading('pressure', Buffer.from('5000'), 0, 65536)).toMatchObject({ ok: false, code: 'invalid_payload', detail: expect.stringContaining('pressure (hPa)') });
    expect(kindSpec('leak')?.toNumber(true)).toBe(1);
    // The same definitions again change nothing.
    expect(defineKinds(a, [{ name: 'pressure', unit: 'hPa', type: 'number', minimum: 300, maximum: 1100 }, { name: 'leak', unit: 'bool', type: 'boolean' }])).toEqual([]);
    expect(changes).toBe(1);
    releaseKinds(a);
    expect(isKind('pressure')).toBe(false);
    expect(decodeReading('pressure', Buffer.from('1013'), 0, 65536)).toMatchObject({ ok: false, code: 'unknown_kind' });
    expect(changes).toBe(2);
    off();
  });

  it('refuses to redefine a contract kind, a bad name, an upside-down range, or a clash with another owner', () => {
    expect(defineKinds(a, [{ name: 'temperature', unit: 'K', type: 'number' }])[0]).toMatch(/contract's/);
    expect(defineKinds(a, [{ name: 'pm 2.5', unit: 'µg/m³', type: 'number' }])[0]).toMatch(/must match/);
    expect(defineKinds(a, [{ name: 'voc', unit: 'ppb', type: 'number', minimum: 10, maximum: 0 }])[0]).toMatch(/above maximum/);
    expect(defineKinds(a, [{ name: 'voltage', unit: 'V', type: 'number' }])).toEqual([]);
    expect(defineKinds(b, [{ name: 'voltage', unit: 'mV', type: 'number' }])[0]).toMatch(/already defined/);
    expect(defineKinds(b, [{ name: 'voltage', unit: 'V', type: 'number' }])).toEqual([]);
    releaseKinds(a);
    expect(isKind('voltage')).toBe(true);
  });
});
