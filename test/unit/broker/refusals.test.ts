/** The broker's refusal log (gateway/broker/refusals.ts): a flood of refused logins is a line per address every 10 s, each counted. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RefusalReporter } from '../../../gateway/broker/refusals.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { captureLogs } from '../../helpers/gateway.js';
import { count, testMetrics } from '../../helpers/ports.js';

describe('refusals in the log', () => {
  it('logs refused logins once per address however many client ids they try, and counts each', async () => {
    const metrics = testMetrics(new ManualClock(0));
    const { lines, stream } = captureLogs();
    let now = 0;
    const reporter = new RefusalReporter(metrics, pino({ level: 'warn' }, stream), () => now);
    for (let i = 0; i < 500; i++) reporter.refuse('login_backoff', { address: '10.0.0.7', clientId: `bot-${i}`, username: 'x' }, 'backing off');
    reporter.refuse('login_backoff', { address: '10.0.0.8', clientId: 'bot-0' }, 'backing off');
    expect(lines.filter((l) => l['reason'] === 'login_backoff').map((l) => l['address'])).toEqual(['10.0.0.7', '10.0.0.8']);
    now = 10_000;
    reporter.refuse('login_backoff', { address: '10.0.0.7', clientId: 'bot-500' }, 'backing off');
    expect(lines.at(-1)).toMatchObject({ address: '10.0.0.7', suppressed: 499 });
    expect(await count(metrics, 'gateway_refusals_total', { reason: 'login_backoff' })).toBe(502);
  });

  it('tells wrong secrets apart by username, not by the client id each try makes up', () => {
    const { lines, stream } = captureLogs();
    const reporter = new RefusalReporter(testMetrics(new ManualClock(0)), pino({ level: 'warn' }, stream), () => 0);
    for (let i = 0; i < 50; i++) reporter.refuse('bad_credentials', { address: '10.0.0.7', clientId: `c-${i}`, username: i % 2 ? 't-a' : 't-b' }, 'wrong password');
    expect(lines.map((l) => l['username'])).toEqual(['t-b', 't-a']);
  });

  it('keeps a logged-in client’s refusals apart by client id', () => {
    const { lines, stream } = captureLogs();
    const reporter = new RefusalReporter(testMetrics(new ManualClock(0)), pino({ level: 'warn' }, stream), () => 0);
    for (const clientId of ['t-101', 't-102', 't-101']) reporter.refuse('publish_denied', { address: '10.0.0.7', clientId, topic: 'commands/hq/f1/hvac' }, 'only the gateway publishes to commands/');
    expect(lines.map((l) => l['clientId'])).toEqual(['t-101', 't-102']);
  });
});
