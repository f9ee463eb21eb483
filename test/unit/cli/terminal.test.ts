/**
 * The one way the tools make untrusted text safe for a terminal (gateway/cli/terminal.ts): every
 * character a terminal acts on is shown escaped, and JSON passed through it still parses to the
 * same strings (JSON.stringify leaves DEL, C1 and bidi controls raw).
 */
import { describe, expect, it } from 'vitest';
import { printable, terminalSafe } from '../../../gateway/cli/terminal.js';

const ACTED_ON = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const EVERY_BMP_CHAR = Array.from({ length: 0x10000 }, (_, c) => (c >= 0xd800 && c <= 0xdfff ? '' : String.fromCharCode(c))).join('');

describe('text from devices on a terminal', () => {
  it('shows C0, DEL, C1 and bidi controls escaped, and leaves other text as it is', () => {
    expect(printable('\x1b[2J\x1b]0;PWNED\x07')).toBe('\\x1b[2J\\x1b]0;PWNED\\x07');
    expect(printable('a\tb\r\nc\x00')).toBe('a\\tb\\r\\nc\\x00');
    expect(printable('\x7f\u009b31m\u202eevil\u2066\u2069\u2028')).toBe('\\u007f\\u009b31m\\u202eevil\\u2066\\u2069\\u2028');
    expect(printable('21 °C, café, 温度, ⏎ ✓ 🌡')).toBe('21 °C, café, 温度, ⏎ ✓ 🌡');
    expect(ACTED_ON.test(printable(EVERY_BMP_CHAR))).toBe(false);
  });

  it('keeps the newlines of text of several lines, and nothing else a terminal acts on', () => {
    expect(terminalSafe('line 1\nline\x1b[K 2\r')).toBe('line 1\nline\\x1b[K 2\\r');
    expect(terminalSafe(EVERY_BMP_CHAR).replace(/\n/g, '')).toMatch(/^[^\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$/);
  });

  it('leaves JSON that parses back to exactly the same strings', () => {
    const doc = { payload: EVERY_BMP_CHAR, [`key\u202e\u009b`]: ['\x1b[2J', '😀'] };
    for (const json of [JSON.stringify(doc), JSON.stringify(doc, null, 2)]) {
      const safe = terminalSafe(json);
      expect(ACTED_ON.test(safe.replace(/\n/g, ''))).toBe(false);
      expect(JSON.parse(safe)).toEqual(doc);
    }
  });
});
