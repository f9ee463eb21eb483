import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeypadCodes, covers } from '../../../gateway/ingest/keypad-codes.js';

let dir: string;
beforeEach(async () => void (dir = await mkdtemp(join(tmpdir(), 'gw-keypad-codes-'))));
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('keypad codes', () => {
  it('keeps only a hash (owner-only file) and says whose code it is, for its zones only', async () => {
    const file = join(dir, 'keypad-codes.json');
    const codes = new KeypadCodes(file);
    await codes.add('alice', '4711', ['hq/porch']);
    await codes.add('bob', '8080');
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('4711');
    expect(text).not.toContain('8080');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await codes.check('4711', 'hq', 'porch')).toBe('alice');
    expect(await codes.check('4711', 'hq', 'hall')).toBeUndefined();
    expect(await codes.check('8080', 'lab', 'x')).toBe('bob');
    expect(await codes.check('0000', 'hq', 'porch')).toBeUndefined();
    expect(await codes.check(undefined, 'hq', 'porch')).toBeUndefined();
    await expect(codes.add('alice', '1111')).rejects.toThrow(/exists already/);
    await expect(codes.add('carol', '12')).rejects.toThrow(/4 to 32/);
    expect(await codes.remove('alice')).toBe(true);
    expect(await codes.check('4711', 'hq', 'porch')).toBeUndefined();
  });

  it('keeps the codes in force when the file is edited into something invalid', async () => {
    const file = join(dir, 'keypad-codes.json');
    const codes = new KeypadCodes(file);
    await codes.add('alice', '4711');
    await writeFile(file, '{"version":1,"codes":[{"name":"x","hash":"plain 1234"}]}');
    await codes.refresh();
    expect(codes.size).toBe(1);
    expect(await codes.check('4711', 'hq', 'porch')).toBe('alice');
  });

  it('takes site/zone and site/* scopes', () => {
    expect(covers(undefined, 'hq', 'f1')).toBe(true);
    expect(covers(['hq/*'], 'hq', 'f1')).toBe(true);
    expect(covers(['hq/f2'], 'hq', 'f1')).toBe(false);
  });
});
