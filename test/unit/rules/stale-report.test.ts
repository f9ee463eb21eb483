/**
 * A command that the actuator's last report already matches is confirmed at once (a device that
 * reports only changes says nothing more) — but not once a command to it has failed: the
 * `actuator_unresponsive` alarm says its state is unknown, and the report from before is stale.
 * Found by a review: after a failed heat command, a cool command was "confirmed, already so by
 * its last report" (cool, from before the failure), with no saga and no resend.
 */
import { pino } from 'pino';
import { expect, it } from 'vitest';
import type { ActuatorStateEvent, CommandStatusEvent, ReadingEvent } from '../../../gateway/core/events.js';
import { kindSpec } from '../../../gateway/core/kinds.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { parsePack } from '../../../gateway/rules/pack.js';
import { RulesRuntime } from '../../../gateway/rules/runtime.js';

let n = 0;
function temperature(clock: ManualClock, value: number): ReadingEvent {
  const timeMs = clock.now();
  const time = new Date(timeMs).toISOString();
  return { id: `r${++n}`, type: 'sensor.temperature', source: 'hq/f1/t1', time, receivedAt: time, seq: n, site: 'hq', zone: 'f1', device: 't1', kind: 'temperature', value, numeric: kindSpec('temperature')!.toNumber(value), timeMs, clientId: undefined };
}

function report(clock: ManualClock, state: Record<string, unknown>): ActuatorStateEvent {
  const timeMs = clock.now();
  return { id: `s${++n}`, site: 'hq', zone: 'f1', actuator: 'hvac', state, device: 'hvac-dev', time: new Date(timeMs).toISOString(), timeMs, clientId: undefined };
}

const rules = [
  { name: 'cool', kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 28 }] }, event: { type: 'command', params: { actuator: 'hvac', data: { mode: 'cool' } } } },
  { name: 'heat', kinds: ['temperature'], conditions: { all: [{ fact: 'value', operator: 'lessThan', value: 10 }] }, event: { type: 'command', params: { actuator: 'hvac', data: { mode: 'heat' } } } },
];

it('tracks a command that matches a report from before a failed command, instead of confirming it at once', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
  const statuses: CommandStatusEvent[] = [];
  const runtime = new RulesRuntime({ clock, log: pino({ level: 'silent' }), onOutcome: () => undefined, onAlarm: () => undefined, resend: () => undefined, onStatus: (s) => statuses.push(s), commands: { confirmMs: 10_000, retries: 2, holdMs: 30 * 60_000 } });
  const { rules: defs, actuators } = parsePack('t.json', JSON.stringify({ rules }));
  runtime.use({ rules: defs, actuators });
  const advance = async (ms: number): Promise<void> => {
    const to = clock.now() + ms;
    await runtime.idle();
    while (clock.fireNext(to)) await runtime.idle();
    clock.advanceTo(to);
  };
  runtime.onActuatorState(report(clock, { mode: 'cool' }));
  await advance(0);
  // Heat, never answered: sent, retried twice, failed; actuator_unresponsive.
  runtime.onReading(temperature(clock, 5));
  await advance(80_000);
  expect(statuses.map((s) => s.status)).toEqual(['sent', 'retried', 'retried', 'failed']);
  statuses.length = 0;
  runtime.onReading(temperature(clock, 30));
  await advance(1000);
  expect(statuses.map((s) => s.status)).toEqual(['sent']);
  expect(runtime.commands.waiting('hq/f1/hvac')).toBeDefined();
  // Its report now confirms it, and the alarm clears.
  runtime.onActuatorState(report(clock, { mode: 'cool' }));
  await advance(0);
  expect(statuses.map((s) => s.status)).toEqual(['sent', 'confirmed']);
  await runtime.stop();
});
