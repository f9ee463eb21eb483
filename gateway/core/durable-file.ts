import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Flushes a directory's entries (a file created, renamed or removed in it) to disk. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Renames `temp` (written and fsynced) over `file`, and flushes the directory: the new name survives a power cut. */
export async function renameDurably(temp: string, file: string): Promise<void> {
  await rename(temp, file);
  await syncDir(dirname(file));
}

/**
 * Replaces `file` atomically and durably with what `write` puts in `temp` (opened with `mode`):
 * fsync, rename, the directory's fsync. A write that fails (a full disk) leaves no temp file behind.
 */
export async function replaceDurably<T>(file: string, temp: string, mode: number, write: (handle: FileHandle) => Promise<T>): Promise<T> {
  const handle = await open(temp, 'w', mode);
  let result: T;
  let written = false;
  try {
    result = await write(handle);
    await handle.sync();
    written = true;
  } finally {
    await handle.close();
    if (!written) await rm(temp, { force: true }).catch(() => undefined);
  }
  await renameDurably(temp, file);
  return result;
}

/** Replaces `file` with `text` atomically and durably: a temp file beside it, fsync, rename, the directory's fsync. */
export function writeFileDurably(file: string, text: string, mode = 0o644): Promise<void> {
  return replaceDurably(file, join(dirname(file), `.${basename(file)}.${process.pid}.tmp`), mode, (handle) => handle.writeFile(text));
}
