/**
 * Small disks for tests: a size-limited tmpfs (needs root and a kernel that lets this process
 * mount), and a ballast file that fills whatever space is left.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, statfs, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Tmpfs {
  readonly dir: string;
  /** Lazy unmount (a process that still has a file open does not keep it busy), then removes the mount point. */
  unmount(): Promise<void>;
}

export async function mountTmpfs(size: string): Promise<Tmpfs> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    async unmount() {
      await run('umount', ['-l', dir]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Undefined when this process may mount a tmpfs, else why not (for a skip message). */
export async function tmpfsUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `tmpfs tests need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'tmpfs tests need root to mount a size-limited tmpfs (run them in CI as root)';
  try {
    const t = await mountTmpfs('1m');
    await t.unmount();
    return undefined;
  } catch (err) {
    return `mount -t tmpfs is not permitted here: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Writes chunks of each size in turn (bytes of `fill`) until the disk takes no more of that size (short write or ENOSPC). */
async function writeUntilFull(file: FileHandle, sizes: readonly number[], fill: number): Promise<void> {
  for (const size of sizes) {
    const chunk = Buffer.alloc(size, fill);
    for (;;) {
      try {
        const { bytesWritten } = await file.write(chunk);
        if (bytesWritten < size) break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  }
}

/**
 * Fills the file system under `dir` with a ballast file, to the last byte or leaving about
 * `leave` bytes free; returns a function that deletes it (space comes back).
 */
export async function fillDisk(dir: string, leave = 0): Promise<() => Promise<void>> {
  const path = join(dir, `ballast-${process.pid}-${Date.now()}`);
  const file = await open(path, 'w');
  try {
    await writeUntilFull(file, [1 << 20, 64 << 10, 4 << 10, 512, 1], 0x61);
    if (leave > 0) await file.truncate(Math.max(0, (await file.stat()).size - leave));
  } finally {
    await file.close();
  }
  return () => rm(path, { force: true });
}

/** Bytes free for an unprivileged writer under `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/**
 * Appends to `path` until the disk refuses (ENOSPC): on a full tmpfs a file still has room up to
 * the end of its last page, which a full disk does not otherwise take away.
 */
export async function fillFile(path: string): Promise<void> {
  const file = await open(path, 'a');
  try {
    await writeUntilFull(file, [4 << 10, 512, 1], 0x0a);
  } finally {
    await file.close();
  }
}
