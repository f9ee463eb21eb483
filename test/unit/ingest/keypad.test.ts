/**
 * The keypads' panel (gateway/ingest/keypad.ts) when it cannot go on as usual: more presses than
 * codes can be checked (each check one scrypt per stored code, one at a time), and a zone whose
 * arming cannot be kept. Before, the first queued without limit and the second rejected before
 * the keypad was answered, so it got no reply. Real codes file, real scrypt, real metrics.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeypadCodes } from '../../../gateway/ingest/keypad-codes.js';
import { KeypadPanel, type KeypadPress } from '../../../gateway/ingest/keypad.js';
import { Metrics } from '../../../gateway/observability/metrics.js';
import { captureLogs } from '../../helpers/gateway.js';

const PIN = '40917253';
const settings = { keypadLockoutFailures: 5, keypadLockoutWindowMs: 300_000, keypadLockoutMs: 60_000, keypadLockoutMaxMs: 3_600_000, keypadMaxQueuedChecks: 2, keypadExitDelayMs: 0 };

let dir: string;
let codes: KeypadCodes;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gw-keypad-panel-'));
  codes = new KeypadCodes(join(dir, 'keypad-codes.json'));
  await codes.add('front-door', PIN);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function panel(arm: () => Promise<void> | undefined, overrides: Partial<typeof settings> = {}) {
  const sent: { topic: string; body: { arm_mode: { transaction?: number; mode: string } } }[] = [];
  const { lines, stream } = captureLogs();
  const metrics = new Metrics({ spool: () => ({ bytes: 0, events: 0, oldestAppendedAt: undefined }), connectedClients: () => 0, influxUp: () => true, now: () => Date.now() });
  const p = new KeypadPanel({
    codes,
    publisher: { publish: (topic, payload) => Promise.resolve(void sent.push({ topic, body: JSON.parse(payload) as (typeof sent)[number]['body'] })) },
    log: pino(stream),
    arm,
    settings: { ...settings, ...overrides },
    metrics,
    now: () => 0,
  });
  return { p, sent, lines, metrics };
}
const press = (transaction: number, action = 'arm_all_zones', nativeId = 'porch_keypad', zone = 'porch'): KeypadPress => ({ base: 'zigbee2mqtt', nativeId, place: { site: 'hq', zone, device: nativeId }, action, transaction });
const modeOf = (sent: ReturnType<typeof panel>['sent'], transaction: number) => sent.find((s) => s.body.arm_mode.transaction === transaction)?.body.arm_mode.mode;

describe('the keypads’ panel', () => {
  it('answers not_ready, unchecked, the presses beyond KEYPAD_MAX_QUEUED_CHECKS waiting for a check', async () => {
    const armed: boolean[] = [];
    const { p, sent, lines, metrics } = panel(() => Promise.resolve(void armed.push(true)));
    const records: string[] = [];
    const record = (v: 'ok' | 'fail') => Promise.resolve(void records.push(v));
    // Five presses at once (one socket read): two get a place, three do not.
    const done = await Promise.all([1, 2, 3, 4, 5].map((t) => p.press(press(t), PIN, record)));
    expect(done).toEqual([true, true, true, true, true]);
    expect([1, 2, 3, 4, 5].map((t) => modeOf(sent, t))).toEqual(['arm_all_zones', 'arm_all_zones', 'not_ready', 'not_ready', 'not_ready']);
    expect(armed).toHaveLength(2);
    expect(records).toEqual(['ok', 'ok']);
    expect(await metrics.registry.getSingleMetricAsString('gateway_keypad_refusals_total')).toContain('gateway_keypad_refusals_total{reason="checks_queued"} 3');
    // Said once for the burst.
    expect(lines.filter((l) => l.msg.startsWith('keypad presses are coming faster'))).toHaveLength(1);
    // The checks caught up: the next press is checked again.
    await p.press(press(6), PIN, record);
    expect(modeOf(sent, 6)).toBe('arm_all_zones');
  });

  it('answers not_ready when the zone’s arming cannot be kept, then fails the press (dead-lettered by its caller)', async () => {
    const { p, sent, lines } = panel(() => Promise.reject(new Error('the spool cannot be written')));
    await expect(p.press(press(9, 'disarm'), PIN, () => undefined)).rejects.toThrow('the spool cannot be written');
    expect(sent).toEqual([{ topic: 'zigbee2mqtt/porch_keypad/set', body: { arm_mode: { transaction: 9, mode: 'not_ready' } } }]);
    expect(lines.some((l) => l.msg.startsWith('the zone could not be armed or disarmed at its keypad') && l.level === 50)).toBe(true);
  });
});

describe('guessing codes at the keypads, bounded (a reviewer)', () => {
  const lockedOut = async (metrics: ReturnType<typeof panel>['metrics']) => Number(/reason="locked_out"\} (\d+)/.exec(await metrics.registry.getSingleMetricAsString('gateway_keypad_refusals_total'))?.[1] ?? 0);
  const fail = () => Promise.resolve();

  it('holds presses that came together to the wrong codes checked before them: 8 at once against a lockout after 5 check 5', async () => {
    const { p, sent, metrics } = panel(() => Promise.resolve(), { keypadMaxQueuedChecks: 8 });
    await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((t) => p.press(press(t, 'disarm'), `1111${t}`, fail)));
    expect(sent.filter((x) => x.body.arm_mode.mode === 'invalid_code')).toHaveLength(8);
    expect(await lockedOut(metrics)).toBe(3);
  });

  it('locks out a zone, not a name: keypads that place themselves (<site>/<zone>/<device>) under new names get no fresh guesses', async () => {
    const { p, metrics } = panel(() => Promise.resolve());
    for (let i = 0; i < 40; i++) await p.press(press(i, 'disarm', `hq/porch/kp${Math.floor(i / 4)}`), `9999${i}`, fail);
    expect(await lockedOut(metrics)).toBe(35);
  });

  it('keeps counting panel-wide across a right code good in one zone only (it would let guesses at an every-zone code go on)', async () => {
    await codes.add('hall', '24681357', ['hq/hall']);
    const { p, metrics } = panel(() => Promise.resolve());
    for (let i = 0; i < 19; i++) await p.press(press(i, 'disarm', `hq/z${Math.floor(i / 4)}/kp`, `z${Math.floor(i / 4)}`), `9999${i}`, fail);
    await p.press(press(19, 'disarm', 'hq/hall/kp', 'hall'), '24681357', fail);
    // The 20th wrong code locks the panel; the next press is refused unchecked.
    await p.press(press(20, 'disarm', 'hq/z8/kp', 'z8'), '99990', fail);
    await p.press(press(21, 'disarm', 'hq/z9/kp', 'z9'), '99991', fail);
    expect(await lockedOut(metrics)).toBe(1);
  });

  it('locks the whole panel out after four zones’ worth of wrong codes spread over zones (a code without zones is good in every one)', async () => {
    const { p, metrics } = panel(() => Promise.resolve());
    for (let i = 0; i < 40; i++) await p.press(press(i, 'disarm', `hq/z${Math.floor(i / 4)}/kp`, `z${Math.floor(i / 4)}`), `9999${i}`, fail);
    expect(await lockedOut(metrics)).toBe(20);
  });
});
