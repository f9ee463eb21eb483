import { readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Logger } from 'pino';
import { logError } from '../core/errors.js';
import type { Kind } from '../core/kinds.js';
import { unsetFieldReads } from './actuator-fields.js';
import { disciplinesAdrift } from './actuator-links.js';
import { judgePackSet } from './clashes.js';
import { deadFactLiterals } from './fact-literals.js';
import { KeptPacks } from './kept-packs.js';
import { RuleFileError, parsePack, type ActuatorPolicy, type RuleDefinition, type RulePack } from './pack.js';
import { RuleDirWatch, listRuleFiles, stopsShort, type RuleDirListing } from './rule-dir.js';

/** Everything in force: the rules of every pack and the actuators' discipline. */
export interface RuleSet {
  readonly rules: readonly RuleDefinition[];
  readonly actuators: Readonly<Record<string, ActuatorPolicy>>;
  /** Kinds the packs mark as safety kinds: judged whenever a reading arrives, history or not. */
  readonly safetyKinds?: readonly Kind[];
}

export interface RuleLoaderOptions {
  readonly dir: string;
  readonly log: Logger;
  /** Called with everything in force after a load that changed something. */
  readonly onChange: (set: RuleSet) => void;
  readonly onResult?: (result: 'loaded' | 'rejected', file: string) => void;
  readonly debounceMs?: number;
  /** Only these files of the directory (scenarios and replays pick packs); default: every `*.json`. */
  readonly files?: readonly string[];
  /** Reload when a file changes (default true). */
  readonly watch?: boolean;
  /** How often a missing RULES_DIR is looked for while watching (default 2 s). */
  readonly missingPollMs?: number;
  /**
   * A file whose JSON stops short and that changed less than this long ago is a save still being
   * written (an editor or a copy pausing mid-write): it is read again later, not rejected yet
   * (default 2 s while watching, 0 otherwise).
   */
  readonly settleMs?: number;
  /** Where the last good version of each pack is kept across restarts (rules/kept-packs.ts); none: a start runs only what loads. */
  readonly keptDir?: string;
}

/** A pack in force: its text, and when it runs from its kept copy (its file rejected at a start), when that copy was accepted. */
type InForce = { readonly text: string; readonly pack: RulePack; readonly keptAt?: string };

/**
 * Loads the rule packs (`*.json` directly in RULES_DIR, or symbolic links to them) and reloads
 * them when a file changes. A broken file is rejected with an error that names it and every
 * problem, and the rules it had in force stay; other files are unaffected.
 */
export class RuleLoader {
  private readonly files = new Map<string, InForce>();
  private readonly errors = new Map<string, string>();
  private empty: string | undefined;
  private adrift: readonly string[] = [];
  private unsetReads: readonly string[] = [];
  private deadLiterals: readonly string[] = [];
  /** Pack-like files of another format already said to be not read. */
  private notRead: readonly string[] = [];
  private readonly watch: RuleDirWatch | undefined;
  private readonly kept: KeptPacks | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  /** Files read cut short, since when (bounded by the files in RULES_DIR). */
  private readonly cutShortSince = new Map<string, number>();
  private stopped = false;
  private reloading: Promise<void> = Promise.resolve();

  constructor(private readonly o: RuleLoaderOptions) {
    if (o.keptDir !== undefined) this.kept = new KeptPacks(o.keptDir, o.log);
    if (o.watch !== false) this.watch = new RuleDirWatch({ dir: o.dir, log: o.log, changed: () => this.schedule(), missingPollMs: o.missingPollMs ?? 2000 });
  }

  /** The rule files that were last rejected, with why. */
  get problems(): ReadonlyMap<string, string> {
    return this.errors;
  }

  /** Set while RULES_DIR has no rule file at all (missing, unreadable or empty): why no rules are in force. */
  get noRuleFiles(): string | undefined {
    return this.empty;
  }

  /** The rule files in force from their kept copy (by file name), with when that copy was accepted. */
  get keptCopies(): ReadonlyMap<string, string> {
    return new Map([...this.files].flatMap(([name, f]) => (f.keptAt !== undefined ? [[name, f.keptAt] as const] : [])));
  }

  get rules(): readonly RuleDefinition[] {
    return this.packs().flatMap((p) => p.rules);
  }

  get ruleSet(): RuleSet {
    const actuators: Record<string, ActuatorPolicy> = {};
    for (const p of this.packs()) Object.assign(actuators, p.actuators);
    return { rules: this.rules, actuators, safetyKinds: [...new Set(this.packs().flatMap((p) => p.safetyKinds))] };
  }

  /** In file name order, as at a start, whatever order they were reloaded in. */
  private packs(): RulePack[] {
    return [...this.files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, f]) => f.pack);
  }

  async start(): Promise<void> {
    // Watch first, then load: a file written in between is not missed.
    this.watch?.open();
    await this.reload();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.watch?.close();
    if (this.timer) clearTimeout(this.timer);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    return this.reloading;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    // Editors write in several steps; reload once they are done.
    this.timer = setTimeout(() => {
      this.reload().catch((err: unknown) => this.o.log.error({ err }, 'rules reload failed'));
    }, this.o.debounceMs ?? 100);
  }

  /**
   * Reads every pack again; returns once the rules in force are updated. One load at a time.
   * `judgeAll`: parse unchanged files too (the kinds changed: a pack may now name one that is gone).
   */
  reload(judgeAll = false): Promise<void> {
    const next = this.reloading.then(() => this.load(judgeAll));
    this.reloading = next.catch(() => undefined);
    return next;
  }

  /** Every changed file is read before any is judged, so clashes are judged against the new set as a whole. */
  private async load(judgeAll = false): Promise<void> {
    const { dir, log } = this.o;
    const listing = await listRuleFiles(dir);
    const entries = new Map(listing.entries);
    const missing = new Set((this.o.files ?? []).filter((f) => !entries.has(f)));
    for (const f of missing) {
      this.errors.set(f, `${join(dir, f)}: no such rule file`);
      logError(log, 'GW_ERR_RULE_FILE', { file: join(dir, f) }, `rule file not found: ${join(dir, f)}`);
    }
    for (const name of entries.keys()) if (this.o.files && !this.o.files.includes(name)) entries.delete(name);
    this.sayIfEmpty(listing, entries.size);
    if (!this.o.files) this.sayNotRead(listing.notRead ?? []);

    let changed = false;
    for (const gone of new Set([...this.files.keys(), ...this.errors.keys()])) {
      if (entries.has(gone) || missing.has(gone)) continue;
      if (this.files.delete(gone)) {
        changed = true;
        log.info({ file: gone }, 'rule file removed; its rules are no longer in force');
      } else log.info({ file: gone }, 'rejected rule file removed');
      this.errors.delete(gone);
    }

    const fresh = new Map<string, InForce>();
    const failed = new Map<string, string>();
    let unsettled = false;
    for (const [name, entry] of entries) {
      const shown = relative(process.cwd(), entry.path) || entry.path;
      if (entry.problem) {
        failed.set(name, `${shown}: ${entry.problem}`);
        continue;
      }
      let text: string;
      try {
        text = await readFile(entry.path, 'utf8');
      } catch (err) {
        // Removed between the listing and the read: the next event handles it.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') failed.set(name, `${shown}: cannot be read: ${(err as Error).message}`);
        continue;
      }
      if (!judgeAll && this.files.get(name)?.text === text && !this.errors.has(name)) continue;
      try {
        fresh.set(name, { text, pack: parsePack(shown, text) });
      } catch (err) {
        // Its version in force (if any) stays meanwhile; nothing is said of it yet.
        if (err instanceof RuleFileError && (await this.stillBeingWritten(entry.path, text))) unsettled = true;
        else failed.set(name, err instanceof RuleFileError ? err.message : `${shown}: ${(err as Error).message}`);
      }
    }
    if (unsettled) this.readAgainSoon();
    const packs = (m: ReadonlyMap<string, { pack: RulePack }>) => new Map([...m].map(([name, f]) => [name, f.pack]));
    // A pack that cannot be read and has no version in force may be what commands an actuator.
    const orphansOf = () => [...failed.keys()].filter((name) => !this.files.has(name));
    for (const [name, problems] of judgePackSet(packs(this.files), packs(fresh), orphansOf().length > 0)) {
      failed.set(name, new RuleFileError(fresh.get(name)?.pack.file ?? name, problems).message);
      fresh.delete(name);
    }
    // A pack rejected with no version in force (at a start) runs from its kept copy, if that fits with all the rest: a file on disk wins over a copy.
    const orphans = orphansOf();
    const standIns = (await this.kept?.standIns(orphans, (name) => relative(process.cwd(), join(dir, name)) || name)) ?? new Map<string, InForce>();
    const incomplete = orphans.some((name) => !standIns.has(name));
    for (const name of judgePackSet(new Map([...packs(this.files), ...packs(fresh)]), packs(standIns), incomplete).keys()) standIns.delete(name);
    for (const [name, f] of standIns) fresh.set(name, f);

    for (const name of entries.keys()) {
      const loaded = fresh.get(name);
      const problem = failed.get(name);
      if (loaded && problem === undefined) {
        this.files.set(name, loaded);
        this.errors.delete(name);
        changed = true;
        log.info({ file: loaded.pack.file, rules: loaded.pack.rules.map((r) => r.name) }, 'rule file loaded');
        this.o.onResult?.('loaded', loaded.pack.file);
      } else if (problem !== undefined) {
        if (loaded) this.files.set(name, loaded);
        changed ||= loaded !== undefined;
        const shown = relative(process.cwd(), join(dir, name)) || name;
        const kept = this.files.get(name);
        const keptAt = kept?.keptAt;
        // Said at every rejection while it lasts: what runs is not the file on disk.
        const standIn = keptAt !== undefined ? `; its last good version, kept when it was accepted at ${keptAt}, runs instead (kept copy)` : '';
        this.errors.set(name, `${problem}${standIn}`);
        logError(log, 'GW_ERR_RULE_FILE', { file: shown, err: problem, rulesKept: kept?.pack.rules.length ?? 0, ...(keptAt !== undefined ? { keptCopyAcceptedAt: keptAt } : {}) }, `rule file rejected: ${problem}${standIn}`);
        this.o.onResult?.('rejected', shown);
      }
    }
    this.watch?.sync(listing.found !== 'missing', [...entries.values()].flatMap((e) => (e.target ? [e.target] : [])));
    if (changed) this.o.onChange(this.ruleSet);
    if (changed) this.sayAdrift();
    // Once the rules are in force (a copy's fsync must not delay them): what a next start falls back on.
    for (const [name, f] of fresh) if (!failed.has(name)) await this.kept?.keep(name, f.text);
    await this.kept?.prune(listing);
  }

  private async stillBeingWritten(path: string, text: string): Promise<boolean> {
    const settleMs = this.o.settleMs ?? (this.watch ? 2000 : 0);
    if (settleMs <= 0 || !stopsShort(text)) {
      this.cutShortSince.delete(path);
      return false;
    }
    const changed = await stat(path).then((s) => s.mtimeMs, () => 0);
    // Waited for at most settleMs from when it was first seen cut short, whatever its time says
    // (a file from a machine whose clock is ahead would otherwise be waited for without end).
    const now = Date.now();
    const since = this.cutShortSince.get(path) ?? now;
    this.cutShortSince.set(path, since);
    const waiting = Math.abs(now - changed) < settleMs && now - since < settleMs;
    if (!waiting) this.cutShortSince.delete(path);
    return waiting;
  }

  private readAgainSoon(): void {
    if (this.stopped || this.settleTimer) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      this.reload().catch((err: unknown) => this.o.log.error({ err }, 'rules reload failed'));
    }, 250);
  }

  /**
   * A deleted pack cannot be refused: say once what it leaves without effect (a discipline no rule
   * commands now); and an actuator field read that no rule sets, which loads but is likely a mistake.
   */
  private sayAdrift(): void {
    const adrift = disciplinesAdrift(this.packs());
    for (const problem of adrift) if (!this.adrift.includes(problem)) this.o.log.warn({ problem }, `a minimum on/off time no longer applies: ${problem}`);
    this.adrift = adrift;
    const unset = unsetFieldReads(this.packs());
    for (const problem of unset) if (!this.unsetReads.includes(problem)) this.o.log.warn({ problem }, `an actuator field no rule sets: ${problem}`);
    this.unsetReads = unset;
    const dead = deadFactLiterals(this.packs());
    for (const problem of dead) if (!this.deadLiterals.includes(problem)) this.o.log.warn({ problem }, `a condition whose outcome never changes: ${problem}`);
    this.deadLiterals = dead;
  }

  /** A pack written in YAML (or JSON5, JSONC) would otherwise be ignored without a word: said once per file. */
  private sayNotRead(names: readonly string[]): void {
    const { dir, log } = this.o;
    for (const name of names) {
      if (this.notRead.includes(name)) continue;
      const file = relative(process.cwd(), join(dir, name)) || name;
      log.warn({ file }, `${file}: not read: only .json files are rule packs (a pack in YAML, JSON5 or JSONC must be converted to plain JSON, named *.json)`);
    }
    this.notRead = names;
  }

  /** Says once, when it becomes so, that no rule file is there: no rules in force is never silent. */
  private sayIfEmpty(listing: RuleDirListing, files: number): void {
    const { dir, log } = this.o;
    const why = listing.found === 'missing' ? ' (the directory does not exist)' : listing.found === 'unreadable' ? ` (the directory cannot be read: ${listing.detail ?? ''})` : '';
    const empty = files === 0 ? `no rule files in ${dir}: no rules in force${why}` : undefined;
    if (empty && empty !== this.empty) log.warn({ dir }, empty);
    else if (!empty && this.empty) log.info({ dir }, `rule files in ${dir} again`);
    this.empty = empty;
  }
}
