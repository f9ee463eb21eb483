/** The gateway's log lines on a terminal: what devices put in a message cannot drive the terminal. */
import { describe, expect, it } from 'vitest';
import { terminalMessage } from '../../../gateway/observability/log-terminal.js';

describe('a log line on a terminal', () => {
  it('has the component and the code in front of the message', () => {
    expect(terminalMessage({ msg: 'port in use', component: 'broker', code: 'GW_ERR_LISTEN' }, 'msg')).toBe('[broker] GW_ERR_LISTEN: port in use');
  });

  it('escapes control characters a device id or topic carried into the message, and keeps it one line', () => {
    const device = 'x\x1b[2J\x1b]0;PWNED\x07\u009b31m\u202eevil\nnext';
    const line = terminalMessage({ msg: `device ${device} is silent`, component: 'devices' }, 'msg');
    expect(line).toBe('[devices] device x\\x1b[2J\\x1b]0;PWNED\\x07\\u009b31m\\u202eevil\\nnext is silent');
    expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f\u202a-\u202e]/);
  });
});
