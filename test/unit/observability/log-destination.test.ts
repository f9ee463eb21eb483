import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogDestination, logLinesDropped } from '../../../gateway/observability/log-destination.js';

describe('the log destination', () => {
  it('drops and counts the lines a full disk refuses (/dev/full), without an error and without waiting, flushSync included', () => {
    const fd = openSync('/dev/full', 'w');
    try {
      const before = logLinesDropped();
      const d = new LogDestination(fd);
      let failed = false;
      d.on('error', () => (failed = true));
      d.write('{"msg":"one"}\n');
      d.write('{"msg":"two"}\n{"msg":"three"}\n');
      d.flushSync();
      expect(logLinesDropped() - before).toBeGreaterThanOrEqual(1);
      expect(failed).toBe(false);
    } finally {
      closeSync(fd);
    }
  });

  it('writes lines to a file as they come', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-logdest-'));
    const fd = openSync(join(dir, 'log'), 'a');
    try {
      const d = new LogDestination(fd);
      d.write('a\n');
      d.write('b\n');
      d.flushSync();
      expect(readFileSync(join(dir, 'log'), 'utf8')).toBe('a\nb\n');
    } finally {
      closeSync(fd);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
