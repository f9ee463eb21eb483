/**
 * The local snapshot of the rules' state (DATA_DIR/rules-state.json): read back as written, in the
 * cluster's encoding; within its bound the alarms and waiting commands are kept first; a missing
 * or damaged file is no snapshot.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlarmTransitionEvent, CommandEvent } from '../../../gateway/core/events.js';
import type { StateChange } from '../../../gateway/rules/shared-state.js';
import { encodeState, readState } from '../../../gateway/rules/state-file.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
const file = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'rules-state-'));
  dirs.push(dir);
  return join(dir, 'rules-state.json');
};

const alarm = { alarmId: 'a1', transition: 'updated', rule: 'smoke-alarm', acknowledged: true, active: true, timeMs: 5 } as unknown as AlarmTransitionEvent;
const command = { id: 'c1', site: 'hq', zone: 'f1', actuator: 'hvac' } as unknown as CommandEvent;
const changes: StateChange[] = [
  { type: 'alarm', alarmId: 'a1', transition: alarm },
  { type: 'saga', target: 'hq/f1/hvac', saga: { command, attempt: 0, sentAt: 1, dueAt: 10_001 } },
  { type: 'actuator', target: 'hq/f1/hvac', actuator: { data: { mode: 'cool' }, changedAt: 1, commandId: 'c1', rule: 'hvac-cool' } },
  { type: 'report', target: 'hq/f1/hvac', report: { state: { mode: 'off' }, at: 0, device: 'hvac-hq-f1' } },
];

describe('the rules\' local snapshot', () => {
  it('is read back as written', async () => {
    const f = await file();
    const { text, left } = encodeState(changes, 42);
    expect(left).toBe(0);
    await writeFile(f, text);
    const read = await readState(f, log);
    expect(read).toMatchObject({ savedAt: 42, alarms: 1, sagas: 1, actuators: 1 });
    expect(read?.state.alarms.get('a1')).toEqual(alarm);
    expect(read?.state.sagas.get('hq/f1/hvac')?.dueAt).toBe(10_001);
    expect(read?.state.actuators.get('hq/f1/hvac')).toMatchObject({ data: { mode: 'cool' }, changedAt: 1 });
    expect(read?.state.reports.get('hq/f1/hvac')?.device).toBe('hvac-hq-f1');
  });

  it('keeps the alarms and waiting commands first within its bound', () => {
    const { text, left } = encodeState(changes, 42, 520);
    expect(left).toBeGreaterThan(0);
    expect(text).toContain('alarm|a1');
    expect(text).toContain('saga|hq/f1/hvac');
    expect(text).not.toContain('rep|hq/f1/hvac');
  });

  it('is none when missing or damaged', async () => {
    const f = await file();
    expect(await readState(f, log)).toBeUndefined();
    await writeFile(f, '{"version":1,"savedAt":4');
    expect(await readState(f, log)).toBeUndefined();
    await writeFile(f, '{"version":99,"savedAt":4,"fields":{}}');
    expect(await readState(f, log)).toBeUndefined();
  });
});
