/** The armed-zones file (DATA_DIR/armed-zones.json): a damaged one is said, not taken silently for "nothing armed". */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArmedZones } from '../../../gateway/rules/armed-zones.js';

let dir: string;
beforeEach(async () => void (dir = await mkdtemp(join(tmpdir(), 'gw-test-armed-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('the armed-zones file', () => {
  it('is kept at each change and read back; none yet is the first run, not a problem', async () => {
    const file = join(dir, 'armed-zones.json');
    const zones = new ArmedZones(file);
    expect(await zones.load()).toBeUndefined();
    await zones.setArmed('hq', 'vault', true);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ 'hq/vault': true });
    const again = new ArmedZones(file);
    expect(await again.load()).toBeUndefined();
    expect(again.isArmed('hq', 'vault')).toBe(true);
  });

  it('says why a damaged file cannot be read (the caller logs it), instead of starting with every zone disarmed without a word', async () => {
    const file = join(dir, 'armed-zones.json');
    await writeFile(file, '{"hq/vault": tr');
    const zones = new ArmedZones(file);
    expect(await zones.load()).toMatch(/JSON/);
    expect(zones.isArmed('hq', 'vault')).toBe(false);
  });
});
