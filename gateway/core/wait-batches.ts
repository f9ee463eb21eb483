/**
 * Items that wait on a promise, batched by it: consecutive items waiting on the same promise (a
 * spool commit group) share one reaction, handed over in arrival order when it settles, instead
 * of a promise reaction and closures each. An item waiting on another promise starts a new batch.
 */
export class WaitBatches<T> {
  /** The promise the last batch waits on, and that batch. */
  private waitingOn: Promise<void> | undefined;
  private batch: T[] = [];

  constructor(private readonly settled: (items: readonly T[], err: Error | null, promise: Promise<void>) => void) {}

  add(pending: Promise<void>, item: T): void {
    if (pending === this.waitingOn) {
      this.batch.push(item);
      return;
    }
    const items = [item];
    this.waitingOn = pending;
    this.batch = items;
    const settle = (err: Error | null): void => {
      // Settled: a later item on the same promise would wait on nothing, so it starts a new batch.
      if (this.waitingOn === pending) this.waitingOn = undefined;
      this.settled(items, err, pending);
    };
    pending.then(
      () => settle(null),
      (err: Error) => settle(err),
    );
  }
}
