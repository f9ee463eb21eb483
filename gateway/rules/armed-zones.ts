import { readFile } from 'node:fs/promises';
import { writeFileDurably } from '../core/durable-file.js';
import { zoneKey } from './series.js';

/** Which zones are armed, kept in the armed-zones file (DATA_DIR/armed-zones.json) when one is given. */
export class ArmedZones {
  private readonly armedZones = new Map<string, boolean>();

  constructor(private readonly armedFile?: string) {}

  /** Reads the armed-zones file; why it could not be read, when it exists but cannot (no file: the first run, no zone armed). */
  async load(): Promise<string | undefined> {
    if (!this.armedFile) return undefined;
    try {
      const doc = JSON.parse(await readFile(this.armedFile, 'utf8')) as Record<string, boolean>;
      for (const [key, armed] of Object.entries(doc)) if (typeof armed === 'boolean') this.armedZones.set(key, armed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return (err as Error).message;
    }
    return undefined;
  }

  /** Every zone whose armed state was ever set, with it. */
  armedStates(): { site: string; zone: string; armed: boolean }[] {
    return [...this.armedZones].map(([key, armed]) => {
      const [site = '', zone = ''] = key.split('/');
      return { site, zone, armed };
    });
  }

  isArmed(site: string, zone: string): boolean {
    return this.armedZones.size > 0 && (this.armedZones.get(zoneKey(site, zone)) ?? false);
  }

  private saving: Promise<void> = Promise.resolve();

  async setArmed(site: string, zone: string, armed: boolean): Promise<void> {
    this.armedZones.set(`${site}/${zone}`, armed);
    if (!this.armedFile) return;
    // One write at a time, each with the state as it is when it runs: arming messages in quick
    // succession must not race on the temp file, and the last write holds the last state.
    const file = this.armedFile;
    // Durably: a power cut must not leave the file empty, every zone disarmed at the next start.
    this.saving = this.saving.catch(() => undefined).then(() => writeFileDurably(file, JSON.stringify(Object.fromEntries(this.armedZones), null, 2)));
    return this.saving;
  }
}
