/**
 * Issue 14, situation 6: one reading dated 290 s ahead (within the 5-minute skew the gateway
 * accepts) must not make the detector's later, correctly dated readings "history": a smoke
 * detector's `true` after it, with a correct `ts` or with none, must be ruled: the first raises
 * the smoke alarm, the second updates it.
 *
 * Written to fail on today's code: Ingest.reading() sets series.latestMs to the future ts and
 * files every later reading with an earlier time as history (not ruled) until the clock passes it.
 */
import { describe, expect, it } from 'vitest';
import { useCleanup } from '../../helpers/cleanup.js';
import { startGateway } from '../../helpers/gateway.js';
import { collect, connect } from '../../helpers/mqtt.js';

const { defer } = useCleanup();

describe('issue 14 (6): a future ts within the skew', () => {
  it('does not hide a smoke alarm: true with a correct ts, and true without ts, both raise the alert', async () => {
    const gw = await startGateway(); // the repository's rules: security.json's smoke-alarm
    defer(() => gw.stop());
    const watcher = await connect(gw.mqttUrl, { clientId: 'alerts' });
    defer(() => watcher.endAsync(true));
    const alerts = await collect(watcher, 'alerts/+/critical');
    const detector = await connect(gw.mqttUrl, { clientId: 'smk-1' });
    defer(() => detector.endAsync(true));

    const now = Date.now();
    const topic = 'sensors/skew/z1/smk-1/smoke';
    await detector.publishAsync(topic, JSON.stringify({ value: false, ts: now + 290_000, id: 'smk-ahead' }), { qos: 1 });
    await detector.publishAsync(topic, JSON.stringify({ value: true, ts: now + 1000, id: 'smk-true-ts' }), { qos: 1 });
    await detector.publishAsync(topic, JSON.stringify({ value: true, id: 'smk-true-nots' }), { qos: 1 });

    // Rules judge readings in arrival order: once this other detector's alarm is out, the two
    // readings above have been judged.
    const other = await connect(gw.mqttUrl, { clientId: 'smk-2' });
    defer(() => other.endAsync(true));
    await other.publishAsync('sensors/skew-marker/z1/smk-2/smoke', JSON.stringify({ value: true, id: 'smk-marker' }), { qos: 1 });
    await alerts.next((m) => m.json<{ correlationid: string }>().correlationid === 'smk-marker', 10_000);

    // The first `true` raises the smoke alarm (its CloudEvent alert); the second, ruled too, updates
    // that alarm (alarms, not alert floods: issue 11) — both were judged, neither filed as history.
    const alerted = alerts.messages.map((m) => m.json<{ correlationid: string }>().correlationid).filter((id) => id !== 'smk-marker');
    expect(alerted, 'readings of smk-1 that raised the smoke alert').toEqual(['smk-true-ts']);
    const alarm = gw.gateway.rules.alarms().find((a) => a.rule === 'smoke-alarm' && a.site === 'skew');
    expect(alarm, 'the smoke alarm of site skew').toMatchObject({ state: 'active', count: 2 });
  });
});
