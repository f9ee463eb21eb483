import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GroupCommit } from '../../../gateway/storage/spool/group-commit.js';

/** A disk that records each write (its lines, and whether it was synced) and takes no time. */
function recordingDisk() {
  const writes: { lines: string[]; sync: boolean; at: number }[] = [];
  return { writes, write: async (lines: readonly string[], sync: boolean) => void writes.push({ lines: [...lines], sync, at: performance.now() }) };
}

describe('group commit: the least interval between writes (SPOOL_COMMIT_INTERVAL_MS)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes what arrives within the interval of the last write as one group, and acknowledges it once written', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] });
    const disk = recordingDisk();
    const commits = new GroupCommit({ log: pino({ level: 'silent' }), write: disk.write, intervalMs: 10 });
    commits.add('a\n');
    const first = commits.committed();
    await vi.advanceTimersByTimeAsync(0);
    await first;
    // The first write goes at once: nothing was written before it.
    expect(disk.writes).toEqual([{ lines: ['a\n'], sync: true, at: 0 }]);

    await vi.advanceTimersByTimeAsync(1);
    commits.add('b\n');
    let acknowledged = false;
    void commits.committed().then(() => (acknowledged = true));
    await vi.advanceTimersByTimeAsync(4);
    commits.add('c\n');
    await vi.advanceTimersByTimeAsync(4);
    // 9 ms after the first write started: b and c still wait, unacknowledged.
    expect(disk.writes).toHaveLength(1);
    expect(acknowledged).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(disk.writes.slice(1)).toEqual([{ lines: ['b\n', 'c\n'], sync: true, at: 10 }]);
    expect(acknowledged).toBe(true);

    // Long after the last write, the next one goes at once again.
    await vi.advanceTimersByTimeAsync(50);
    commits.add('d\n');
    await vi.advanceTimersByTimeAsync(0);
    expect(disk.writes.at(-1)).toEqual({ lines: ['d\n'], sync: false, at: 60 });
    await commits.close();
  });

  it('without an interval, writes each turn’s appends at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] });
    const disk = recordingDisk();
    const commits = new GroupCommit({ log: pino({ level: 'silent' }), write: disk.write });
    for (let i = 0; i < 3; i++) {
      commits.add(`${i}\n`);
      await vi.advanceTimersByTimeAsync(1);
    }
    expect(disk.writes.map((w) => w.lines)).toEqual([['0\n'], ['1\n'], ['2\n']]);
    await commits.close();
  });

  it('closing writes what waits for its interval at once, and leaves no timer behind', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] });
    const disk = recordingDisk();
    const commits = new GroupCommit({ log: pino({ level: 'silent' }), write: disk.write, intervalMs: 1000 });
    commits.add('a\n');
    await vi.advanceTimersByTimeAsync(0);
    commits.add('b\n');
    const kept = commits.committed();
    await commits.close();
    await kept;
    expect(disk.writes.map((w) => w.lines)).toEqual([['a\n'], ['b\n']]);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('group commit: written, not yet synced (what a command waits for)', () => {
  /** A disk whose fdatasync ends only when the test says: the write itself is at once. */
  function slowSyncDisk() {
    const writes: { lines: string[]; sync: boolean }[] = [];
    let endSync: (() => void) | undefined;
    const write = async (lines: readonly string[], sync: boolean, written?: () => void): Promise<void> => {
      writes.push({ lines: [...lines], sync });
      written?.();
      if (sync) await new Promise<void>((resolve) => (endSync = resolve));
    };
    return { writes, write, endSync: () => endSync?.() };
  }

  it('resolves once the lines are in the file, before their fdatasync ends, and asks for none itself', async () => {
    const disk = slowSyncDisk();
    const commits = new GroupCommit({ log: pino({ level: 'silent' }), write: disk.write });
    commits.add('reading\n');
    let synced = false;
    void commits.committed().then(() => (synced = true));
    commits.add('command\n');
    await commits.written();
    expect(disk.writes).toEqual([{ lines: ['reading\n', 'command\n'], sync: true }]);
    expect(synced).toBe(false);
    // During the write, what was added before it is written already; what comes after waits for the next.
    expect(await Promise.race([commits.written().then(() => 'written'), new Promise((r) => setImmediate(() => r('waits')))])).toBe('written');
    disk.endSync();
    await commits.committed();
    expect(synced).toBe(true);

    // Nobody waits on the disk: written alone writes without fdatasync.
    commits.add('alert\n');
    await commits.written();
    expect(disk.writes.at(-1)).toEqual({ lines: ['alert\n'], sync: false });
    await commits.close();
  });

  it('does not resolve for lines the disk refused', async () => {
    let tries = 0;
    let endFailing!: () => void;
    const healed = new Promise<void>((resolve) => (endFailing = resolve));
    const commits = new GroupCommit({
      log: pino({ level: 'silent' }),
      write: async (_lines, _sync, written) => {
        tries++;
        if (tries < 3) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        await healed;
        written?.();
      },
    });
    commits.add('command\n');
    let done = false;
    const waiting = commits.written().then(() => (done = true));
    while (tries < 3) await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    endFailing();
    await waiting;
    expect(done).toBe(true);
    await commits.close();
  });

  it('a group written whose fdatasync then fails does not tell what was added during it that it is written', async () => {
    const writes: string[][] = [];
    let failSync!: (e: Error) => void;
    const commits = new GroupCommit({
      log: pino({ level: 'silent' }),
      write: async (lines, sync, written) => {
        writes.push([...lines]);
        // The first group: written, then its fdatasync fails (EIO) when the test says.
        if (writes.length === 1) {
          written?.();
          if (sync) await new Promise<void>((_resolve, reject) => (failSync = reject));
          return;
        }
        // The retry waits for the test to let it write.
        await new Promise((r) => setTimeout(r, 30));
        written?.();
      },
    });
    commits.add('reading\n');
    void commits.committed().catch(() => undefined);
    await commits.written();
    // During the first group's fdatasync, a command is added and waits for its write.
    commits.add('command\n');
    let told = false;
    const waiting = commits.written().then(() => (told = true));
    failSync(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    // The command's line is in no write yet: nobody may be told it is written.
    expect(writes).toEqual([['reading\n']]);
    expect(told).toBe(false);
    await waiting;
    expect(writes.at(-1)).toEqual(['reading\n', 'command\n']);
    await commits.close();
  });
});

describe('group commit: closing on a disk that fails', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const failing = () => Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });

  it('tries a few times, gives the rest up (rejecting who waits), and writes nothing after, with no timer left', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] });
    let tries = 0;
    const commits = new GroupCommit({
      log: pino({ level: 'silent' }),
      write: async () => {
        tries++;
        throw failing();
      },
    });
    commits.add('a\n');
    const kept = commits.committed();
    const given = kept.then(
      () => 'kept',
      () => 'given up',
    );
    await commits.close();
    expect(await given).toBe('given up');
    const atClose = tries;
    expect(atClose).toBeGreaterThanOrEqual(1);
    expect(atClose).toBeLessThanOrEqual(4);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(tries).toBe(atClose);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ends when called during a write that then fails, with more appended behind it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] });
    let fail!: () => void;
    let tries = 0;
    const commits = new GroupCommit({
      log: pino({ level: 'silent' }),
      write: () => {
        tries++;
        if (tries === 1) return new Promise<void>((_, reject) => (fail = () => reject(failing())));
        return Promise.reject(failing());
      },
    });
    commits.add('a\n');
    await vi.advanceTimersByTimeAsync(0);
    commits.add('b\n');
    const waiting = commits.committed().then(
      () => 'kept',
      () => 'given up',
    );
    let closed = false;
    const closing = commits.close().then(() => (closed = true));
    fail();
    await vi.advanceTimersByTimeAsync(60_000);
    // Ended within the fake minute (a close that hangs leaves this false).
    expect(closed).toBe(true);
    await closing;
    expect(await waiting).toBe('given up');
    expect(tries).toBeLessThanOrEqual(4);
    expect(vi.getTimerCount()).toBe(0);
  });
});
