import { mkdir, open, readdir, readFile, rename, rm, statfs, truncate, writeFile } from 'node:fs/promises';
import { syncDir } from '../../core/durable-file.js';

/**
 * Every file call the spool makes, in one small interface: a test can make any of them fail
 * (ENOSPC, EIO, EMFILE) while the files stay real, and the spool's answer to a full or failing
 * disk is decided in the spool, not in whatever `node:fs` happens to do.
 */
export interface SpoolFile {
  /** May write less than asked (the disk filled mid-write): `bytesWritten` says how much. */
  writev(buffers: readonly Buffer[], position: number): Promise<{ bytesWritten: number }>;
  truncate(length: number): Promise<void>;
  datasync(): Promise<void>;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<unknown>;
  close(): Promise<void>;
}

export interface SpoolDisk {
  mkdir(dir: string): Promise<void>;
  list(dir: string): Promise<string[]>;
  /** Creates (or empties) a file to write. */
  create(path: string): Promise<SpoolFile>;
  openForReading(path: string): Promise<SpoolFile>;
  /** fsyncs a directory, which makes the names created in it durable. */
  syncDir(dir: string): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: string | Buffer): Promise<void>;
  truncate(path: string, length: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; one already gone is not an error. */
  remove(path: string): Promise<void>;
  /** The file system under `dir`: bytes free for this process, and its size. */
  space(dir: string): Promise<{ free: number; size: number }>;
}

export const nodeDisk: SpoolDisk = {
  mkdir: async (dir) => void (await mkdir(dir, { recursive: true })),
  list: (dir) => readdir(dir),
  create: (path) => open(path, 'w'),
  openForReading: (path) => open(path, 'r'),
  syncDir: (dir) => syncDir(dir),
  readFile: (path) => readFile(path),
  writeFile: (path, data) => writeFile(path, data),
  truncate: (path, length) => truncate(path, length),
  rename: (from, to) => rename(from, to),
  remove: (path) => rm(path, { force: true }),
  async space(dir) {
    const s = await statfs(dir);
    return { free: s.bavail * s.bsize, size: s.blocks * s.bsize };
  },
};
