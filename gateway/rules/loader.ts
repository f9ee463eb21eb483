import { watch, type FSWatcher } from 'node:fs';
import { logError } from '../core/errors.js';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Logger } from 'pino';
import type { Kind } from '../core/kinds.js';
import { RuleFileError, parsePack, type ActuatorPolicy, type RuleDefinition, type RulePack } from './pack.js';

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
}

/**
 * Loads the rule packs (`*.json` directly in RULES_DIR) and reloads them when a file changes.
 * A broken file is rejected with an error that names it and every problem, and the rules it
 * had in force stay; other files are unaffected.
 */
export class RuleLoader {
  private readonly files = new Map<string, { text: string; pack: RulePack }>();
  private readonly errors = new Map<string, string>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();

  constructor(private readonly o: RuleLoaderOptions) {}

  /** The rule files that were last rejected, with why. */
  get problems(): ReadonlyMap<string, string> {
    return this.errors;
  }

  get rules(): readonly RuleDefinition[] {
    return [...this.files.values()].flatMap((f) => f.pack.rules);
  }

  get ruleSet(): RuleSet {
    const actuators: Record<string, ActuatorPolicy> = {};
    for (const f of this.files.values()) Object.assign(actuators, f.pack.actuators);
    return { rules: this.rules, actuators, safetyKinds: [...new Set([...this.files.values()].flatMap((f) => f.pack.safetyKinds))] };
  }

  async start(): Promise<void> {
    await this.reload();
    if (this.o.watch === false) return;
    try {
      this.watcher = watch(this.o.dir, () => this.schedule());
      this.watcher.on('error', (err) => this.o.log.warn({ err, dir: this.o.dir }, 'stopped watching the rules directory'));
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message, dir: this.o.dir }, 'cannot watch the rules directory; rules will not reload on change');
    }
  }

  stop(): Promise<void> {
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
    return this.reloading;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    // Editors write in several steps; reload once they are done.
    this.timer = setTimeout(() => {
      this.reloading = this.reloading.then(() => this.reload());
    }, this.o.debounceMs ?? 100);
  }

  /** Reads every pack again; returns once the rules in force are updated. */
  async reload(): Promise<void> {
    const { dir, log } = this.o;
    let names: string[];
    try {
      names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile() && d.name.endsWith('.json')).map((d) => d.name).sort();
      const only = this.o.files;
      if (only) {
        const missing = only.filter((f) => !names.includes(f));
        for (const f of missing) {
          this.errors.set(f, `${join(dir, f)}: no such rule file`);
          logError(log, 'GW_ERR_RULE_FILE', { file: join(dir, f) }, `rule file not found: ${join(dir, f)}`);
        }
        names = names.filter((n) => only.includes(n));
      }
    } catch (err) {
      log.warn({ dir, err: (err as Error).message }, 'rules directory not readable: no rules in force');
      names = [];
    }
    let changed = false;
    for (const gone of [...this.files.keys()].filter((f) => !names.includes(f))) {
      this.files.delete(gone);
      this.errors.delete(gone);
      changed = true;
      log.info({ file: gone }, 'rule file removed; its rules are no longer in force');
    }
    for (const name of names) {
      const path = join(dir, name);
      const shown = relative(process.cwd(), path) || path;
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch {
        continue; // Removed between readdir and read: the next event handles it.
      }
      if (this.files.get(name)?.text === text && !this.errors.has(name)) continue;
      try {
        const pack = parsePack(shown, text);
        const others = [...this.files.entries()].filter(([other]) => other !== name);
        const clash = pack.rules.find((r) => others.some(([, f]) => f.pack.rules.some((o) => o.name === r.name)));
        if (clash) throw new RuleFileError(shown, [`rule name ${JSON.stringify(clash.name)} is already used in another file`]);
        for (const actuator of Object.keys(pack.actuators)) {
          const owner = others.find(([, f]) => actuator in f.pack.actuators);
          if (owner) throw new RuleFileError(shown, [`actuators.${actuator}: already set in ${owner[1].pack.file}; an actuator's discipline lives in one file`]);
        }
        this.files.set(name, { text, pack });
        this.errors.delete(name);
        changed = true;
        log.info({ file: shown, rules: pack.rules.map((r) => r.name) }, 'rule file loaded');
        this.o.onResult?.('loaded', shown);
      } catch (err) {
        const message = err instanceof RuleFileError ? err.message : `${shown}: ${(err as Error).message}`;
        this.errors.set(name, message);
        const kept = this.files.get(name)?.pack.rules.length ?? 0;
        logError(log, 'GW_ERR_RULE_FILE', { file: shown, err: message, rulesKept: kept }, `rule file rejected: ${message}`);
        this.o.onResult?.('rejected', shown);
      }
    }
    if (changed) this.o.onChange(this.ruleSet);
  }
}
