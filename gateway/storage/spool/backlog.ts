/**
 * What the spool holds that the consumer has not confirmed, against the spool's limit
 * (SPOOL_MAX_BYTES), and who waits for room. The one place that decides "full".
 */
export class Backlog {
  private bytesHeld = 0;
  private eventsHeld = 0;
  private oldest: number | undefined;
  private waiters: (() => void)[] = [];

  /** `arriving`: bytes appended but not yet on disk, which count against the limit too. */
  constructor(
    /** The limit in force (SPOOL_MAX_BYTES, less on a disk with little room left). */
    private readonly maxBytes: () => number,
    private readonly arriving: () => number,
  ) {}

  /** Bytes on disk and not yet confirmed. */
  get bytes(): number {
    return this.bytesHeld;
  }

  get events(): number {
    return this.eventsHeld;
  }

  /** Epoch ms when the oldest unconfirmed record was appended, or undefined if none. */
  get oldestAppendedAt(): number | undefined {
    return this.eventsHeld > 0 ? this.oldest : undefined;
  }

  isFull(): boolean {
    return this.bytesHeld + this.arriving() >= this.maxBytes();
  }

  /** Resolves when the spool has room again (immediately if it has). */
  whenSpace(): Promise<void> {
    if (!this.isFull()) return Promise.resolve();
    return this.nextWake();
  }

  /** Resolves at the next wake-up (room made, or the disk writes again): the caller checks again. */
  nextWake(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Records are on disk (written now, or left by a previous run). */
  added(bytes: number, events: number, firstAppendedAt: number | undefined): void {
    this.bytesHeld += bytes;
    this.eventsHeld += events;
    this.oldest ??= firstAppendedAt;
  }

  /** The consumer confirmed a batch; `nextAppendedAt` is when the oldest record still held was appended, if known. */
  confirmed(bytes: number, events: number, nextAppendedAt: number | undefined): void {
    this.bytesHeld -= bytes;
    this.eventsHeld -= events;
    this.oldest = nextAppendedAt ?? (this.eventsHeld > 0 ? this.oldest : undefined);
    if (!this.isFull()) this.wakeAll();
  }

  /** Lets every waiter in (there is room, or the spool is closing). */
  wakeAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
