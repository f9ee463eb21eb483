import { open, rename, rm } from 'node:fs/promises';
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

/** Replaces `file` with `text` atomically and durably: a temp file beside it, fsync, rename, the directory's fsync. */
export async function writeFileDurably(file: string, text: string, mode = 0o644): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const handle = await open(temp, 'w', mode);
  let written = false;
  try {
    await handle.writeFile(text);
    await handle.sync();
    written = true;
  } finally {
    await handle.close();
    // A write that failed (a full disk) leaves no half temp file behind.
    if (!written) await rm(temp, { force: true }).catch(() => undefined);
  }
  await renameDurably(temp, file);
}
