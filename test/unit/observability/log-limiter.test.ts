import { describe, expect, it } from 'vitest';
import { LogLimiter, createLogger } from '../../../gateway/observability/log.js';
import { captureLogs } from '../../helpers/gateway.js';

describe('LogLimiter', () => {
  it('logs the first lines of a window per key, then reports how many it held back', () => {
    const { lines, stream } = captureLogs();
    let now = 0;
    const limiter = new LogLimiter(createLogger('info', stream), 3, 1000, () => now);
    const allowed = Array.from({ length: 10 }, () => limiter.allow('a'));
    expect(allowed).toEqual([true, true, true, false, false, false, false, false, false, false]);
    expect(limiter.allow('b')).toBe(true);
    now = 1000;
    expect(limiter.allow('a')).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ key: 'a', suppressed: 7, msg: '7 more log lines like "a" were not written' });
  });
});
