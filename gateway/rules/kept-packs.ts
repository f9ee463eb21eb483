import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileDurably } from '../core/durable-file.js';
import { parsePack, type RulePack } from './pack.js';
import type { RuleDirListing } from './rule-dir.js';

/** A pack put in force from its kept copy: the copy's text, and when that version was accepted. */
interface StandIn {
  readonly text: string;
  readonly pack: RulePack;
  readonly keptAt: string;
}

/**
 * The last good version of each rule pack, kept in DATA_DIR (`rules-kept/<file>`, the text as it
 * was accepted, so an operator can copy it back), so that a pack broken while the gateway runs
 * keeps its rules in force across a restart, as it does while running: without it, a restart
 * would silently drop a whole pack (the smoke alarm among them) for one typo. Only a pack file
 * present and rejected falls back on its copy; a pack deleted from RULES_DIR loses its copy too,
 * so a deletion on purpose stays one. Each copy is written whole (temporary file, fsync, rename).
 */
export class KeptPacks {
  /** The text of each copy on disk, once read or written (a reload does not rewrite what is there). */
  private readonly texts = new Map<string, string>();
  private warned = false;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** A pack accepted from RULES_DIR: its copy becomes this text (the time of the write is when it was accepted). */
  async keep(name: string, text: string): Promise<void> {
    const file = join(this.dir, name);
    if ((this.texts.get(name) ?? (await readFile(file, 'utf8').catch(() => undefined))) === text) {
      this.texts.set(name, text);
      return;
    }
    try {
      await mkdir(this.dir, { recursive: true });
      await writeFileDurably(file, text);
      this.texts.set(name, text);
    } catch (err) {
      this.texts.delete(name);
      // The rules in force are not affected: only what a restart with this pack broken would fall back on.
      if (!this.warned) this.log.warn({ err: (err as Error).message, dir: this.dir, file: name }, `cannot keep a copy of the accepted rule file ${name}: a restart with it broken would run without its rules`);
      this.warned = true;
    }
  }

  /** The copies of packs rejected with nothing in force (a start): each parsed as the file it stands in for. */
  async standIns(names: readonly string[], shownOf: (name: string) => string): Promise<Map<string, StandIn>> {
    const found = new Map<string, StandIn>();
    for (const name of names) {
      const file = join(this.dir, name);
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      try {
        const pack = parsePack(shownOf(name), text);
        const keptAt = new Date((await stat(file)).mtimeMs).toISOString();
        found.set(name, { text, pack, keptAt });
        this.texts.set(name, text);
      } catch (err) {
        // A copy that no longer loads (a kind it names is gone from the device map): the file stays rejected, with nothing in force.
        this.log.warn({ err: (err as Error).message, file }, `the kept copy of ${name} cannot stand in for it: ${(err as Error).message}`);
      }
    }
    return found;
  }

  /** Copies of packs no longer in a RULES_DIR that is there (deleted on purpose) are removed, with leftover temporary files. */
  async prune(listing: RuleDirListing): Promise<void> {
    if (listing.found !== 'dir') return; // A directory missing or unreadable (a mount not there yet) deletes nothing.
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const name of names) {
      if (listing.entries.has(name)) continue;
      this.texts.delete(name);
      await rm(join(this.dir, name), { force: true }).catch(() => undefined);
      if (!name.startsWith('.')) this.log.info({ file: name, dir: this.dir }, 'rule file removed: its kept copy is removed too');
    }
  }
}

