/**
 * The setpoint each heat-only valve had before it was turned down to its lowest for off
 * (commands.ts), by target, kept in `DATA_DIR/valve-setpoints.json`: a turn-down is an evening's,
 * the next `heat` a morning's, and a restart between them must not leave the valve at its minimum
 * (the stored history holds the turn-down, not what came before it, past the rules' window).
 * Written whole and durably at each change (turn-downs are rare); read once at the start. An
 * actuator the device map no longer names loses its entry at each load of the map (keepOnly),
 * else the file keeps every valve ever removed or renamed.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { writeFileDurably } from '../core/durable-file.js';

export class ResumeSetpoints {
  private readonly byTarget = new Map<string, number>();
  /** Writes in turn, each of the whole table as it stood when queued. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string | undefined,
    private readonly log: Logger,
  ) {}

  async load(): Promise<void> {
    if (!this.file) return;
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err: (err as Error).message, file: this.file }, 'could not read the setpoints of the valves turned down: a heat without a setpoint leaves them at their lowest');
      return;
    }
    try {
      const doc = JSON.parse(text) as unknown;
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not an object of target → setpoint');
      for (const [target, setpoint] of Object.entries(doc)) if (typeof setpoint === 'number' && Number.isFinite(setpoint)) this.byTarget.set(target, setpoint);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, file: this.file }, 'the setpoints of the valves turned down are unreadable: ignored (a heat without a setpoint leaves those valves at their lowest)');
    }
  }

  get(target: string): number | undefined {
    return this.byTarget.get(target);
  }

  set(target: string, setpoint: number): void {
    if (this.byTarget.get(target) === setpoint) return;
    this.byTarget.set(target, setpoint);
    this.save();
  }

  delete(target: string): void {
    if (this.byTarget.delete(target)) this.save();
  }

  /** Forgets the targets not `named` (the map in force no longer has them); returns those forgotten. */
  keepOnly(named: (target: string) => boolean): string[] {
    const gone = [...this.byTarget.keys()].filter((target) => !named(target));
    for (const target of gone) this.byTarget.delete(target);
    if (gone.length > 0) this.save();
    return gone;
  }

  /** The writes queued so far are done (a stop waits for them). */
  settled(): Promise<void> {
    return this.writing;
  }

  private save(): void {
    const file = this.file;
    if (!file) return;
    const text = `${JSON.stringify(Object.fromEntries(this.byTarget), null, 2)}\n`;
    this.writing = this.writing
      .then(() => writeFileDurably(file, text))
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message, file }, 'could not keep the setpoints of the valves turned down: a restart would forget them'));
  }
}
