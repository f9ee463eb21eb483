/** The retained-message budget (gateway/broker/retained.ts): valid messages only, per credential and in all. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RetainedLedger } from '../../../gateway/broker/retained.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { captureLogs } from '../../helpers/gateway.js';
import { count, testMetrics } from '../../helpers/ports.js';

function ledger(maxBytesPerClient: number, maxBytes: number) {
  const metrics = testMetrics(new ManualClock(0));
  return { metrics, retained: new RetainedLedger({ metrics, maxBytesPerClient, maxBytes }) };
}
// Each message costs its payload, its topic and 128 bytes of bookkeeping.
const T = 'devices/d-1/status';
const cost = (payload: number, topic = T) => payload + Buffer.byteLength(topic) + 128;

describe('RetainedLedger', () => {
  it('never retains a dead letter', async () => {
    const { retained, metrics } = ledger(0, 0);
    expect(retained.decide('dev', 'sensors/a/b/dev/madeup', 10, false)).toBe('invalid');
    expect(retained.bytes).toBe(0);
    expect(await count(metrics, 'gateway_retained_refused_total', { reason: 'invalid' })).toBe(1);
  });

  it('keeps one credential within MQTT_MAX_RETAINED_BYTES_PER_CLIENT, counting a replacement by its difference', async () => {
    const { retained, metrics } = ledger(cost(100) + cost(100, 'devices/d-2/status'), 0);
    expect(retained.decide('dev', T, 100, true)).toBe('retain');
    expect(retained.decide('dev', 'devices/d-2/status', 100, true)).toBe('retain');
    expect(retained.decide('dev', 'devices/d-3/status', 1, true)).toBe('client_budget');
    // Replacing its own topic with the same size fits; another credential has its own budget.
    expect(retained.decide('dev', T, 100, true)).toBe('retain');
    expect(retained.decide('other', 'devices/d-3/status', 1, true)).toBe('retain');
    expect(await count(metrics, 'gateway_retained_refused_total', { reason: 'client_budget' })).toBe(1);
  });

  it('keeps everyone within MQTT_MAX_RETAINED_BYTES, and always lets an empty payload delete', async () => {
    const { retained, metrics } = ledger(0, cost(100) * 2);
    expect(retained.decide('a', T, 100, true)).toBe('retain');
    expect(retained.decide('b', 'devices/d-9/status', 100, true)).toBe('retain');
    expect(retained.decide('c', 'devices/d-7/status', 100, true)).toBe('total_budget');
    expect(retained.decide('a', T, 0, true)).toBe('retain');
    expect(retained.bytes).toBe(cost(100));
    expect(retained.decide('c', 'devices/d-7/status', 100, true)).toBe('retain');
    expect(await count(metrics, 'gateway_retained_bytes')).toBe(cost(100) * 2);
    expect(await count(metrics, 'gateway_retained_refused_total', { reason: 'total_budget' })).toBe(1);
  });

  it('keeps what another owner retained from an owner held to its own (ownOnly): not replaced nor cleared, counted and said', async () => {
    const metrics = testMetrics(new ManualClock(0));
    const { lines, stream } = captureLogs();
    const retained = new RetainedLedger({ metrics, maxBytesPerClient: 0, maxBytes: 0, log: pino(stream) });
    const D = 'tasmota/discovery/D4E5F6A0B1C2/config';
    expect(retained.decide('plug-2', D, 100, true, true)).toBe('retain');
    expect(retained.decide('plug-1', D, 100, true, true)).toBe('other_owner');
    expect(retained.decide('plug-1', D, 0, true, true)).toBe('other_owner');
    expect([retained.ownerOf(D), retained.bytes]).toEqual(['plug-2', cost(100, D)]);
    // Its own it may replace and clear; without ownOnly (an admin) anyone may.
    expect(retained.decide('plug-2', D, 50, true, true)).toBe('retain');
    expect(retained.decide('admin', D, 0, true)).toBe('retain');
    expect(await count(metrics, 'gateway_retained_refused_total', { reason: 'other_owner' })).toBe(2);
    await new Promise((r) => setImmediate(r));
    expect(lines.filter((l) => l['reason'] === 'other_owner').map((l) => [l['owner'], l['holder']])).toEqual([['plug-1', 'plug-2']]);
  });

  it('says a refusal over a budget in the log, once per credential and reason every 10 s, with how many it left out', async () => {
    const clock = new ManualClock(0);
    const metrics = testMetrics(clock);
    const { lines, stream } = captureLogs();
    const retained = new RetainedLedger({ metrics, maxBytesPerClient: cost(10), maxBytes: 0, log: pino(stream), now: () => clock.now() });
    expect(retained.decide('dev', T, 10, true)).toBe('retain');
    for (let i = 0; i < 5; i++) expect(retained.decide('dev', `devices/x-${i}/status`, 10, true)).toBe('client_budget');
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l['msg'])).toEqual([expect.stringContaining('retained message of dev on devices/x-0/status delivered but not retained')]);
    expect(lines[0]).toMatchObject({ owner: 'dev', reason: 'client_budget' });
    clock.advanceTo(10_000);
    retained.decide('dev', 'devices/x-9/status', 10, true);
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ topic: 'devices/x-9/status', suppressed: 4 });
    expect(await count(metrics, 'gateway_retained_refused_total', { reason: 'client_budget' })).toBe(6);
  });
});
