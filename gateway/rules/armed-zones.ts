import { readFile } from 'node:fs/promises';
import { writeFileDurably } from '../core/durable-file.js';
import { RULE_BOUNDS, type OnForget, type OnRefuse } from './bounds.js';
import { zoneKey } from './series.js';

/**
 * Which zones are armed, kept in the armed-zones file (DATA_DIR/armed-zones.json) when one is given.
 * At most `bound` zones (rules/bounds.ts, 10,000): a flood of made-up zone names must not grow the
 * table, nor the file written whole at each change. Past it, the disarmed zone changed longest ago
 * is forgotten (it reads disarmed as before; GET /api/zones no longer lists it); an armed zone is
 * never forgotten (that would disarm it), so when every zone remembered is armed, arming a new one
 * is refused (it stays disarmed). Both counted and said (rules/service.ts: GW_ERR_MEMORY_BOUND, _FULL).
 */
export class ArmedZones {
  private readonly armedZones = new Map<string, boolean>();
  /** The disarmed zones among them, the one changed longest ago first: what goes when full. */
  private readonly disarmed = new Set<string>();
  /** Told of each zone's state taken, and of each forgotten (undefined): a cluster's owner keeps its shared state so (cluster/partition-worker.ts). */
  onChange: ((key: string, armed: boolean | undefined) => void) | undefined;

  constructor(
    private readonly armedFile?: string,
    private readonly bound = RULE_BOUNDS.armedZones,
    private readonly told: { readonly forgot?: OnForget | undefined; readonly refused?: OnRefuse | undefined } = {},
  ) {}

  /** Reads the armed-zones file; why it could not be read, when it exists but cannot (no file: the first run, no zone armed). */
  async load(): Promise<string | undefined> {
    if (!this.armedFile) return undefined;
    try {
      const doc = JSON.parse(await readFile(this.armedFile, 'utf8')) as Record<string, boolean>;
      for (const [key, armed] of Object.entries(doc)) if (typeof armed === 'boolean') this.remember(key, armed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return (err as Error).message;
    }
    return undefined;
  }

  /** Every zone whose armed state was set (and is remembered), with it. */
  armedStates(): { site: string; zone: string; armed: boolean }[] {
    return [...this.armedZones].map(([key, armed]) => {
      const [site = '', zone = ''] = key.split('/');
      return { site, zone, armed };
    });
  }

  isArmed(site: string, zone: string): boolean {
    return this.armedZones.size > 0 && (this.armedZones.get(zoneKey(site, zone)) ?? false);
  }

  /** Zones remembered (for tests of the bound). */
  get armedCount(): number {
    return this.armedZones.size;
  }

  /** Takes a zone's state within the bound; false when nothing changed in the table (a refusal, or a new zone disarmed when every one is armed). */
  private remember(key: string, armed: boolean): boolean {
    if (!this.armedZones.has(key) && this.armedZones.size >= this.bound) {
      const oldest = this.disarmed.values().next();
      if (!oldest.done) {
        this.armedZones.delete(oldest.value);
        this.disarmed.delete(oldest.value);
        this.told.forgot?.('armed_zone', this.bound);
        this.onChange?.(oldest.value, undefined);
      } else {
        // Disarmed is what an unknown zone reads anyway: only an arming is lost, and said.
        if (armed) this.told.refused?.('armed_zone', this.bound);
        return false;
      }
    }
    this.armedZones.set(key, armed);
    this.disarmed.delete(key);
    if (!armed) this.disarmed.add(key);
    this.onChange?.(key, armed);
    return true;
  }

  private saving: Promise<void> = Promise.resolve();

  async setArmed(site: string, zone: string, armed: boolean): Promise<void> {
    if (!this.remember(`${site}/${zone}`, armed) || !this.armedFile) return;
    // One write at a time, each with the state as it is when it runs: arming messages in quick
    // succession must not race on the temp file, and the last write holds the last state.
    const file = this.armedFile;
    // Durably: a power cut must not leave the file empty, every zone disarmed at the next start.
    this.saving = this.saving.catch(() => undefined).then(() => writeFileDurably(file, JSON.stringify(Object.fromEntries(this.armedZones), null, 2)));
    return this.saving;
  }
}
