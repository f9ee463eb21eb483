import { nodeDisk, type SpoolDisk, type SpoolFile } from '../../gateway/storage/spool/disk.js';

/** A call the spool makes to its disk: `writing.*` on the segment it writes, `reading.*` on one it reads. */
export type DiskCall = keyof SpoolDisk | `writing.${keyof SpoolFile}` | `reading.${keyof SpoolFile}`;

/**
 * The spool's real disk with a hook before every call: the hook throws to make that call fail
 * (ENOSPC, EIO, EMFILE…) or awaits to slip something in before it. The files stay real.
 */
export function hookedDisk(before: (call: DiskCall, path: string) => void | Promise<void>, disk: SpoolDisk = nodeDisk): SpoolDisk {
  const hooked = async <T>(call: DiskCall, path: string, run: () => Promise<T>): Promise<T> => {
    await before(call, path);
    return run();
  };
  const file = (mode: 'writing' | 'reading', path: string, f: SpoolFile): SpoolFile => ({
    writev: (buffers, position) => hooked(`${mode}.writev`, path, () => f.writev(buffers, position)),
    truncate: (length) => hooked(`${mode}.truncate`, path, () => f.truncate(length)),
    datasync: () => hooked(`${mode}.datasync`, path, () => f.datasync()),
    read: (buffer, offset, length, position) => hooked(`${mode}.read`, path, () => f.read(buffer, offset, length, position)),
    close: () => hooked(`${mode}.close`, path, () => f.close()),
  });
  return {
    mkdir: (dir) => hooked('mkdir', dir, () => disk.mkdir(dir)),
    list: (dir) => hooked('list', dir, () => disk.list(dir)),
    create: (path) => hooked('create', path, async () => file('writing', path, await disk.create(path))),
    openForReading: (path) => hooked('openForReading', path, async () => file('reading', path, await disk.openForReading(path))),
    syncDir: (dir) => hooked('syncDir', dir, () => disk.syncDir(dir)),
    readFile: (path) => hooked('readFile', path, () => disk.readFile(path)),
    writeFile: (path, data) => hooked('writeFile', path, () => disk.writeFile(path, data)),
    truncate: (path, length) => hooked('truncate', path, () => disk.truncate(path, length)),
    rename: (from, to) => hooked('rename', from, () => disk.rename(from, to)),
    remove: (path) => hooked('remove', path, () => disk.remove(path)),
    space: (dir) => hooked('space', dir, () => disk.space(dir)),
  };
}

export const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
