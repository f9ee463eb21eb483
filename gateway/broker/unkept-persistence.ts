/**
 * A single gateway's broker state kept in memory only (MQTT_SNAPSHOT_INTERVAL_MS=0): lost at every
 * restart, as README says. A snapshot an earlier run left in DATA_DIR is neither read nor kept in
 * place: left there, it came back whole (retained messages deleted since, sessions gone) the day
 * snapshots were turned on again. It is moved aside, named, and said once.
 */
import { rename } from 'node:fs/promises';
import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import { BoundedPersistence, type PersistenceHooks, type PersistenceLimits } from './persistence.js';

export class UnkeptPersistence extends BoundedPersistence {
  constructor(
    limits: PersistenceLimits,
    hooks: PersistenceHooks,
    private readonly o: { readonly file: string; readonly log: Logger; readonly now: () => number },
  ) {
    super(limits, hooks);
  }

  override async setup(broker: Aedes): Promise<void> {
    await super.setup(broker);
    const to = `${this.o.file}.unused-${new Date(this.o.now()).toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(this.o.file, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.o.log.warn({ err: (err as Error).message, file: this.o.file }, 'MQTT_SNAPSHOT_INTERVAL_MS=0: could not move aside the snapshot an earlier run left; it would come back, stale, once snapshots are on again');
      return;
    }
    this.o.log.info({ file: this.o.file, movedTo: to }, 'MQTT_SNAPSHOT_INTERVAL_MS=0: the broker state is kept in memory only; the snapshot an earlier run left is not read, and moved aside so that it does not come back, stale, once snapshots are on again');
  }
}
