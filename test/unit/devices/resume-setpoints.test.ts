/** The setpoints of valves turned down, kept in DATA_DIR (resume-setpoints.ts): what a damaged or unwritable file does. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ResumeSetpoints } from '../../../gateway/devices/resume-setpoints.js';
import { captureLogs } from '../../helpers/gateway.js';

let dir: string;
beforeEach(async () => void (dir = await mkdtemp(join(tmpdir(), 'gw-test-resume-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('ResumeSetpoints', () => {
  it('keeps each change in the file, and a new one reads it back', async () => {
    const file = join(dir, 'valve-setpoints.json');
    const kept = new ResumeSetpoints(file, pino({ enabled: false }));
    await kept.load();
    kept.set('hq/v1/hvac', 21);
    kept.set('hq/v2/hvac', 19.5);
    kept.delete('hq/v2/hvac');
    await kept.settled();
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ 'hq/v1/hvac': 21 });
    const again = new ResumeSetpoints(file, pino({ enabled: false }));
    await again.load();
    expect([again.get('hq/v1/hvac'), again.get('hq/v2/hvac')]).toEqual([21, undefined]);
  });

  it('forgets the targets the map no longer names, in the file too, and writes nothing when all are named', async () => {
    const file = join(dir, 'valve-setpoints.json');
    await writeFile(file, JSON.stringify({ 'hq/v1/hvac': 21, 'hq/gone/hvac': 19, 'lab/x/hvac': 20 }));
    const kept = new ResumeSetpoints(file, pino({ enabled: false }));
    await kept.load();
    expect(kept.keepOnly((t) => t === 'hq/v1/hvac')).toEqual(['hq/gone/hvac', 'lab/x/hvac']);
    await kept.settled();
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ 'hq/v1/hvac': 21 });
    expect(kept.keepOnly(() => true)).toEqual([]);
  });

  it('a damaged file is warned of and ignored, its values that are not numbers dropped', async () => {
    const file = join(dir, 'valve-setpoints.json');
    const { lines, stream } = captureLogs();
    await writeFile(file, '{"hq/v1/hvac": 21, "hq/v2/hvac": "high"');
    const damaged = new ResumeSetpoints(file, pino(stream));
    await damaged.load();
    expect(damaged.get('hq/v1/hvac')).toBeUndefined();
    expect(lines.some((l) => l.level === 40 && String(l.msg).includes('unreadable'))).toBe(true);
    await writeFile(file, '{"hq/v1/hvac": 21, "hq/v2/hvac": "high"}');
    const partial = new ResumeSetpoints(file, pino(stream));
    await partial.load();
    expect([partial.get('hq/v1/hvac'), partial.get('hq/v2/hvac')]).toEqual([21, undefined]);
  });

  it('a file that cannot be written is warned of; the setpoint is still remembered while running', async () => {
    const { lines, stream } = captureLogs();
    const unwritable = new ResumeSetpoints(join(dir, 'no-such-dir', 'valve-setpoints.json'), pino(stream));
    await unwritable.load();
    unwritable.set('hq/v1/hvac', 21);
    await unwritable.settled();
    expect(unwritable.get('hq/v1/hvac')).toBe(21);
    expect(lines.some((l) => l.level === 40 && String(l.msg).includes('could not keep'))).toBe(true);
  });
});
