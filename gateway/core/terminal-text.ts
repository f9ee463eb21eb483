/**
 * Text from devices (payloads, topics, ids, names) as a terminal shows it, not as it acts on it:
 * ESC sequences clear the screen or set the window title, C1 controls (CSI 0x9b) do the same on
 * some terminals, bidi overrides make text read other than it is. Used by the command-line tools
 * (cli/terminal.ts) and the gateway's own log lines on a terminal (observability/log-terminal.ts).
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

