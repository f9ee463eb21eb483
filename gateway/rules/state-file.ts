import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { EventBus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import { writeFileDurably } from '../core/durable-file.js';
import { logWarn } from '../core/errors.js';
import { LogLimiter } from '../observability/log.js';
import { transitionOf } from './alarm-events.js';
import type { RulesRuntime } from './runtime.js';
import { actuatorChanges, decodeSnapshot, encodeChange, type RuleStateSnapshot, type StateChange } from './shared-state.js';

/**
 * A single gateway's local snapshot of its rules' state (DATA_DIR/rules-state.json): the active
 * alarms (with their acknowledgements), the commands waiting for a confirmation (sagas), each
 * actuator's commanded state (minimum on/off times count from it) and last report. The rebuild
 * at start reads it only when InfluxDB cannot be read (rules/rebuild.ts): the history stays the
 * truth, this is what the rules knew when the history cannot say. Same fields as a cluster's
 * shared state in Redis (shared-state.ts' encoding), so one restore serves both. Armed zones are
 * not in it: armed-zones.json has them, written at each change.
 *
 * Written atomically and durably (a temp file, fsync, rename) at most every `everyMs` when the
 * rules' outputs or an actuator's report may have changed it, and at a clean stop: a `kill -9`
 * loses at most that long of changes.
 */

const VERSION = 1;
/** How often the snapshot is written at most while the rules' state changes. */
const STATE_FILE_EVERY_MS = 5_000;
/** The file's bound: past it the alarms, then sagas, then actuators are kept, and the rest left out (said). */
const STATE_FILE_MAX_BYTES = 64 * 1024 * 1024;

export interface LocalSnapshot {
  /** The gateway clock's time it was taken (epoch ms). */
  readonly savedAt: number;
  readonly state: RuleStateSnapshot;
  readonly alarms: number;
  readonly sagas: number;
  readonly actuators: number;
}

/** What the rules hold now, as the shared state's changes: alarms first, then sagas, actuators and reports (the order they are kept in past the bound). */
function captureState(runtime: RulesRuntime, now: number): StateChange[] {
  const alarms: StateChange[] = runtime.alarms.active().map((a) => ({ type: 'alarm', alarmId: a.id, transition: transitionOf(a, 'updated', a.lastCorrelationId, undefined, true, now) }));
  const targets = new Set([...runtime.commands.memory.sagas.keys(), ...runtime.dispatcher.all().keys(), ...runtime.commands.memory.reported.keys()]);
  const rank = { saga: 0, actuator: 1, report: 2 } as const;
  const rest = actuatorChanges(runtime, targets).sort((x, y) => rank[x.type as keyof typeof rank] - rank[y.type as keyof typeof rank]);
  return [...alarms, ...rest];
}

/** The file's text, within `maxBytes`; `left` counts the fields left out past it. */
export function encodeState(changes: readonly StateChange[], savedAt: number, maxBytes = STATE_FILE_MAX_BYTES): { text: string; left: number } {
  const fields: Record<string, string> = {};
  let bytes = 100;
  let left = 0;
  for (const change of changes) {
    const [field, value] = encodeChange(change);
    if (value === undefined) continue;
    const size = Buffer.byteLength(field) + Buffer.byteLength(value) * 1.2 + 8;
    if (bytes + size > maxBytes) {
      left++;
      continue;
    }
    bytes += size;
    fields[field] = value;
  }
  return { text: JSON.stringify({ version: VERSION, savedAt, savedAtIso: new Date(savedAt).toISOString(), fields }), left };
}

/** The snapshot in `file`; undefined when there is none, or it cannot be read (said). */
export async function readState(file: string, log: Logger): Promise<LocalSnapshot | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logWarn(log, 'GW_ERR_DATA_DIR', { file, err: (err as Error).message }, 'the rules\' local snapshot could not be read: the rules start without it');
    return undefined;
  }
  try {
    const doc = JSON.parse(text) as { version?: unknown; savedAt?: unknown; fields?: unknown };
    if (doc.version !== VERSION || typeof doc.savedAt !== 'number' || typeof doc.fields !== 'object' || doc.fields === null) throw new Error(`not a version ${VERSION} snapshot`);
    const state = decodeSnapshot(doc.fields as Record<string, string>);
    return { savedAt: doc.savedAt, state, alarms: state.alarms.size, sagas: state.sagas.size, actuators: state.actuators.size };
  } catch (err) {
    logWarn(log, 'GW_ERR_DATA_DIR', { file, err: (err as Error).message }, 'the rules\' local snapshot is damaged: the rules start without it (it is written again within seconds)');
    return undefined;
  }
}

export interface RuleStateFileOptions {
  readonly file: string;
  readonly runtime: RulesRuntime;
  /** Its rules' outputs and actuators' reports say when the state may have changed. */
  readonly bus: EventBus;
  readonly clock: Clock;
  readonly log: Logger;
  readonly everyMs?: number;
  readonly maxBytes?: number;
}

/** Keeps DATA_DIR/rules-state.json up to date while the rules run (started once they are live). */
export class RuleStateFile {
  private dirty = true;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly offs: (() => void)[] = [];
  private readonly rare: LogLimiter;
  /**
   * No write before then: 50 times as long after one as its capture and encoding held the event
   * loop (whole each time: ~80 ms at 10,000 actuators, ~650 ms at 100,000), so a very large state
   * costs at most ~2% of a core, written less often than every 5 s.
   */
  private notBefore = 0;

  constructor(private readonly o: RuleStateFileOptions) {
    this.rare = new LogLimiter(o.log, 1, 60_000);
  }

  readonly read = (): Promise<LocalSnapshot | undefined> => readState(this.o.file, this.o.log);

  start(): void {
    if (this.timer) return;
    const changed = (): void => void (this.dirty = true);
    const { bus } = this.o;
    this.offs.push(bus.on('command', changed), bus.on('alarm', changed), bus.on('commandStatus', changed), bus.on('actuatorState', changed));
    this.timer = setInterval(() => void this.flush(), this.o.everyMs ?? STATE_FILE_EVERY_MS);
    this.timer.unref();
  }

  /** Writes the snapshot if it may have changed since the last write (one write at a time). */
  flush(now = false): Promise<void> {
    if (!this.dirty || (!now && performance.now() < this.notBefore)) return this.writing;
    this.dirty = false;
    this.writing = this.writing.then(() => this.write());
    return this.writing;
  }

  private async write(): Promise<void> {
    const now = this.o.clock.now();
    const started = performance.now();
    const { text, left } = encodeState(captureState(this.o.runtime, now), now, this.o.maxBytes);
    this.notBefore = performance.now() + 50 * (performance.now() - started);
    if (left > 0 && this.rare.allow('rules-state bound')) logWarn(this.o.log, 'GW_ERR_MEMORY_BOUND', { file: this.o.file, left }, `the rules' local snapshot would be larger than its bound: ${left} actuator entries left out of it (the alarms and waiting commands are kept first)`);
    try {
      await writeFileDurably(this.o.file, text, 0o600);
    } catch (err) {
      this.dirty = true;
      if (this.rare.allow('rules-state write')) logWarn(this.o.log, 'GW_ERR_DATA_DIR', { file: this.o.file, err: (err as Error).message }, 'the rules\' local snapshot could not be written (retried): a start while InfluxDB is away would not know the latest of what the rules knew');
    }
  }

  /** A clean stop: the last snapshot, whatever changed. */
  async stop(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const off of this.offs.splice(0)) off();
    this.dirty = true;
    await this.flush(true);
  }
}
