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

import { printable, terminalSafe } from '../core/terminal-text.js';

export { printable, terminalSafe };

export const out = (text: string): void => void process.stdout.write(`${terminalSafe(text)}\n`);
export const err = (text: string): void => void process.stderr.write(`${terminalSafe(text)}\n`);

/** Text the tool styled itself (colours), made of nothing a device sent: as it is. */
export const outStyled = (text: string): void => void process.stdout.write(`${text}\n`);
