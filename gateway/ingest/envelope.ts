import type { ReadingEvent } from '../core/events.js';
import type { Kind, ReadingValue } from '../core/kinds.js';
import type { SeriesMemory } from '../core/series-memory.js';

/** A reading ready to be kept: from a contract payload, or placed from a native message. */
export interface Accepted {
  readonly value: ReadingValue;
  readonly numeric: number;
  readonly tsMs: number | undefined;
  readonly seq: number | undefined;
  readonly id: string | undefined;
}

/**
 * The stamped envelope of a reading. `time` and `receivedAt` (ISO-8601) are computed when read:
 * formatting two dates per reading was ~18% of ingest, and most readings are only stored
 * (by `timeMs`) and ruled, never printed. toJSON() includes them.
 */
export class Reading implements ReadingEvent {
  constructor(
    readonly id: string,
    readonly type: `sensor.${Kind}`,
    readonly source: string,
    readonly site: string,
    readonly zone: string,
    readonly device: string,
    readonly kind: Kind,
    readonly value: ReadingValue,
    readonly numeric: number,
    readonly seq: number | undefined,
    readonly timeMs: number,
    readonly receivedAtMs: number,
    readonly clientId: string | undefined,
    readonly memory?: SeriesMemory,
  ) {}

  get judgedMs(): number {
    return this.timeMs < this.receivedAtMs ? this.timeMs : this.receivedAtMs;
  }

  get time(): string {
    return new Date(this.timeMs).toISOString();
  }

  get receivedAt(): string {
    return new Date(this.receivedAtMs).toISOString();
  }

  toJSON(): object {
    const { memory: _memory, ...fields } = this;
    return { ...fields, time: this.time, receivedAt: this.receivedAt };
  }
}
