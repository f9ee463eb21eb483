import { describe, expect, it } from 'vitest';
import { CODE_MARKER, withoutCodes } from '../../../gateway/ingest/codes.js';

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
