import { watch, type Dirent, type FSWatcher } from 'node:fs';
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';

/** One `*.json` of RULES_DIR: a file, or a symbolic link to one (`target`), or a link to nothing (`problem`). */
export interface RuleFileEntry {
  readonly path: string;
  readonly target?: string;
  readonly problem?: string;
}

export interface RuleDirListing {
  /** `missing`: RULES_DIR does not exist; `unreadable`: it cannot be listed (`detail` says why). */
  readonly found: 'dir' | 'missing' | 'unreadable';
  readonly detail?: string;
  /** By file name, in name order. */
  readonly entries: ReadonlyMap<string, RuleFileEntry>;
  /** Files that look like packs in another format (`extra.yaml`, `hvac.jsonc`): not read, which is said. */
  readonly notRead?: readonly string[];
}

/** Pack-like files that are not read: YAML, JSON5, JSONC, or `.json` in capitals (only `*.json` are packs). */
const OTHER_FORMAT = /\.(ya?ml|json5|jsonc|json)$/i;

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

/**
 * The rule files directly in `dir`. Symbolic links are followed, since that is how Kubernetes
 * mounts a ConfigMap (`hvac.json -> ..data/hvac.json`) and how packs are linked from a checkout;
 * a link to nothing is listed with its problem, so that it is rejected rather than skipped.
 * Dot entries are never packs: a ConfigMap's `..data` and timestamped directories, editors'
 * lock links (`.#hvac.json`).
 */
export async function listRuleFiles(dir: string): Promise<RuleDirListing> {
  let dirents: Dirent[];
  try {
    dirents = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    return { found: code(err) === 'ENOENT' ? 'missing' : 'unreadable', detail: (err as Error).message, entries: new Map() };
  }
  const entries = new Map<string, RuleFileEntry>();
  const notRead: string[] = [];
  for (const d of dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (d.name.startsWith('.') || d.isDirectory()) continue;
    if (!d.name.endsWith('.json')) {
      if (OTHER_FORMAT.test(d.name)) notRead.push(d.name);
      continue;
    }
    const path = join(dir, d.name);
    if (d.isFile()) {
      entries.set(d.name, { path });
      continue;
    }
    // A link, or a file system that does not say the type: what the path leads to decides.
    try {
      if ((await stat(path)).isFile()) entries.set(d.name, { path, target: await realpath(path) });
    } catch (err) {
      if (!(await lstat(path).catch(() => undefined))?.isSymbolicLink()) continue; // Removed meanwhile: the next event says so.
      const to = await readlink(path).catch(() => '?');
      const why = code(err) === 'ENOENT' ? 'which does not exist' : code(err) === 'ELOOP' ? 'which is a loop of links' : `which cannot be read (${(err as Error).message})`;
      entries.set(d.name, { path, problem: `a symbolic link to ${to}, ${why}` });
    }
  }
  return { found: 'dir', entries, notRead };
}

export interface RuleDirWatchOptions {
  readonly dir: string;
  readonly log: Logger;
  /** Something in the directory, or in a directory a link points into, changed. */
  readonly changed: () => void;
  /** How often a missing directory is looked for. */
  readonly missingPollMs: number;
}

/**
 * Watches RULES_DIR (a ConfigMap's `..data` swap is a rename there), the directories that its
 * links point into (a `git pull` in a linked checkout changes nothing in RULES_DIR itself), and
 * looks every few seconds for a RULES_DIR that does not exist yet.
 */
export class RuleDirWatch {
  private dirWatcher: FSWatcher | undefined;
  private readonly targets = new Map<string, FSWatcher>();
  private poll: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: RuleDirWatchOptions) {}

  /** Watches the directory, or looks for it while it is missing. */
  open(): void {
    if (this.dirWatcher || this.closed) return;
    const { dir, log } = this.o;
    try {
      const watcher = watch(dir, () => this.o.changed());
      watcher.on('error', (err) => {
        log.warn({ err, dir }, 'stopped watching the rules directory');
        watcher.close();
        if (this.dirWatcher === watcher) this.dirWatcher = undefined;
      });
      this.dirWatcher = watcher;
      this.stopPolling();
    } catch (err) {
      if (code(err) === 'ENOENT') this.startPolling();
      else log.warn({ err: (err as Error).message, dir }, 'cannot watch the rules directory; rules will not reload on change');
    }
  }

  /** After a load: whether the directory is there, and the files its links lead to. */
  sync(present: boolean, linkTargets: readonly string[]): void {
    if (this.closed) return;
    if (present) this.open();
    else {
      this.dirWatcher?.close();
      this.dirWatcher = undefined;
      this.startPolling();
    }
    const wanted = new Set(linkTargets.map((t) => dirname(t)));
    wanted.delete(resolve(this.o.dir));
    for (const [d, w] of this.targets) {
      if (wanted.has(d)) continue;
      w.close();
      this.targets.delete(d);
    }
    for (const d of wanted) {
      if (this.targets.has(d)) continue;
      try {
        const w = watch(d, () => this.o.changed());
        w.on('error', () => {
          w.close();
          if (this.targets.get(d) === w) this.targets.delete(d);
        });
        this.targets.set(d, w);
      } catch (err) {
        // Gone since the listing: the next load finds the link dangling. Otherwise (no inotify watches left), say what is lost.
        if (code(err) !== 'ENOENT') this.o.log.warn({ err: (err as Error).message, dir: d }, 'cannot watch a directory that rule files link into: a change there is seen only with the next change in the rules directory');
      }
    }
  }

  close(): void {
    this.closed = true;
    this.stopPolling();
    this.dirWatcher?.close();
    for (const w of this.targets.values()) w.close();
    this.targets.clear();
  }

  private startPolling(): void {
    if (this.poll || this.closed) return;
    this.poll = setInterval(() => {
      void stat(this.o.dir).then(
        (s) => {
          if (!s.isDirectory() || !this.poll) return;
          // Watch first, then load: a file written in between is not missed.
          this.stopPolling();
          this.open();
          this.o.changed();
        },
        () => undefined, // Still missing.
      );
    }, this.o.missingPollMs);
    this.poll.unref();
  }

  private stopPolling(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
  }
}

/** JSON cut off: empty, or its parse fails at the end of the text (what a file half written is). */
export function stopsShort(text: string): boolean {
  const body = text.replace(/^\uFEFF/, '').trimEnd();
  if (body === '') return true;
  try {
    JSON.parse(body);
    return false;
  } catch (err) {
    const message = (err as Error).message;
    const at = /at position (\d+)/.exec(message);
    return message.includes('end of JSON input') || (at !== null && Number(at[1]) >= body.length);
  }
}
