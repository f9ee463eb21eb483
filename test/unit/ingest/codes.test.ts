import { describe, expect, it } from 'vitest';
import { CODE_MARKER, takeCode, withoutCodes } from '../../../gateway/ingest/codes.js';

describe('withoutCodes', () => {
  it('replaces a keypad code at any depth, leaves the rest and code-free payloads as they are', () => {
    const out = withoutCodes(Buffer.from('{"action":"disarm","action_code":"1234","nested":[{"action_code":5678}],"battery":90}'));
    expect(JSON.parse(out.toString())).toEqual({ action: 'disarm', action_code: CODE_MARKER, nested: [{ action_code: CODE_MARKER }], battery: 90 });
    const plain = Buffer.from('{"temperature":21}');
    expect(withoutCodes(plain)).toBe(plain);
    const nul = Buffer.from('{"action":"arm_day_zones","action_code":null}');
    expect(withoutCodes(nul)).toBe(nul);
  });

  it('blanks the code in a payload that is not JSON', () => {
    expect(withoutCodes(Buffer.from('{"action_code":"1234", broken')).toString()).toBe(`{"action_code":"${CODE_MARKER}", broken`);
  });
});

describe('takeCode', () => {
  it('hands the top-level code over once, with the payload redacted; no code from a redacted, absent or nested one', () => {
    const taken = takeCode(Buffer.from('{"action":"arm_all_zones","action_code":"0042","action_transaction":9}'));
    expect(taken.code).toBe('0042');
    expect(taken.payload.toString()).not.toContain('0042');
    expect(takeCode(Buffer.from('{"action_code":1234}')).code).toBe('1234');
    expect(takeCode(Buffer.from(`{"action":"disarm","action_code":"${CODE_MARKER}"}`)).code).toBeUndefined();
    expect(takeCode(Buffer.from('{"nested":{"action_code":"1234"}}')).code).toBeUndefined();
    expect(takeCode(Buffer.from('{"temperature":21}')).code).toBeUndefined();
    expect(takeCode(Buffer.from('{"action_code":"1234", broken')).code).toBeUndefined();
  });
});

describe('a code on its own topic (Zigbee2MQTT output: attribute)', () => {
  it('takes the whole payload for the code and keeps none of it', () => {
    expect(takeCode(Buffer.from('1234'), 'zigbee2mqtt/porch/action_code')).toEqual({ payload: Buffer.from(CODE_MARKER) });
    expect(withoutCodes(Buffer.from('"1234"'), 'zigbee2mqtt/porch/action_code').toString()).toBe(CODE_MARKER);
    const empty = Buffer.alloc(0);
    expect(withoutCodes(empty, 'zigbee2mqtt/porch/action_code')).toBe(empty);
    const other = Buffer.from('1234');
    expect(withoutCodes(other, 'zigbee2mqtt/porch/action_zone')).toBe(other);
  });
});
