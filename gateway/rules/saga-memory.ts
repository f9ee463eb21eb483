import { BoundedMap } from '../core/bounded-map.js';
import type { CommandEvent } from '../core/events.js';
import { GuardedMap } from '../core/guarded-map.js';
import { RULE_BOUNDS, type OnForget, type OnRefuse } from './bounds.js';
import type { Saga } from './saga.js';

/** What an actuator last reported, and when. */
export interface LastReport {
  readonly state: Readonly<Record<string, unknown>>;
  readonly at: number;
  readonly device: string;
}

/**
 * What the command sagas remember per actuator (`site/zone/actuator`), each within the bound of
 * actuators (rules/bounds.ts): targets come from readings' zones, so made-up zones would grow them
 * without end. A saga waits for a confirmation: never dropped, a new one past the bound is not
 * tracked (refused). A last report goes, the oldest first, unless a saga waits on its actuator.
 */
export class SagaMemory {
  readonly sagas = new Map<string, Saga>();
  /** The last state each reporting actuator reported, the one reported longest ago first out. */
  readonly reported: GuardedMap<string, LastReport>;
  /** The latest command to each actuator that had not reported yet: a first report that matches it confirms it, as /api/actuators says. */
  readonly untracked: BoundedMap<string, CommandEvent>;
  /** The time of each actuator's last saga step: steps get increasing times, so they keep their order in InfluxDB. */
  readonly lastStep: BoundedMap<string, number>;
  /** The command each actuator did not confirm (`failed`), until it reports: one that comes back after a power cut is put back to it. */
  readonly failed: BoundedMap<string, CommandEvent>;

  constructor(
    readonly bound = RULE_BOUNDS.actuators,
    forgot?: OnForget,
    private readonly refused?: OnRefuse,
  ) {
    this.reported = new GuardedMap(bound, { kept: (target) => this.sagas.has(target), onEvict: () => forgot?.('report', bound), onRefuse: () => refused?.('report', bound) });
    // Forgetting either costs little (a first report that no longer confirms, a step dated as it comes): not counted.
    this.untracked = new BoundedMap(bound);
    this.lastStep = new BoundedMap(bound);
    this.failed = new BoundedMap(bound);
  }

  get reportCount(): number {
    return this.reported.size;
  }

  /** Tracks a saga, unless it is for a new actuator and as many wait as the bound (refused: false). */
  track(target: string, saga: Saga): boolean {
    if (this.sagas.size >= this.bound && !this.sagas.has(target)) {
      this.refused?.('saga', this.bound);
      return false;
    }
    this.sagas.set(target, saga);
    return true;
  }
}
