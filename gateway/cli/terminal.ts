/**
 * What the command-line tools print: results on stdout, progress and problems on stderr.
 *
 * Much of it is what devices sent (payloads, topics, reading ids, client ids, device names), and a
 * terminal acts on control characters rather than showing them: ESC starts sequences that clear
 * the screen, set the window title or rewrite what was shown; C1 controls (0x80–0x9f, CSI 0x9b)
 * do the same on some terminals; bidi overrides and isolates make text read other than it is. So
 * every line goes out with those shown escaped (`\x1b`, `\u009b`, `\u202e`); only the newlines
 * the tools write themselves are kept, and `printable` escapes those too within one field.
 *
 * JSON output passes through the same way and stays JSON that parses to the same strings:
 * JSON.stringify already escapes C0 (so none reaches this raw), but not DEL, C1, U+2028/U+2029
 * or bidi controls, and those are escaped here in the `\uXXXX` form JSON reads.
 */

const NAMED: Readonly<Record<string, string>> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_BUT_NEWLINE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escaped(c: string): string {
  const code = c.charCodeAt(0);
  return NAMED[c] ?? (code < 0x20 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/** Untrusted text as one line a terminal shows as it is: newlines and every other control escaped. */
export const printable = (text: string): string => text.replace(CONTROLS, escaped);

/** Text of several lines: the same, newlines kept. */
export const terminalSafe = (text: string): string => text.replace(CONTROLS_BUT_NEWLINE, escaped);

export const out = (text: string): void => void process.stdout.write(`${terminalSafe(text)}\n`);
export const err = (text: string): void => void process.stderr.write(`${terminalSafe(text)}\n`);

/** Text the tool styled itself (colours), made of nothing a device sent: as it is. */
export const outStyled = (text: string): void => void process.stdout.write(`${text}\n`);
