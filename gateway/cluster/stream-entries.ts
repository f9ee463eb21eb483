import type { Logger } from 'pino';
import { BoundedMap } from '../core/bounded-map.js';
import { LogLimiter } from '../observability/log.js';
import type { RulesRuntime } from '../rules/runtime.js';
import { parsePoint } from '../storage/point-parse.js';
import { entryOf } from './fenced-commit.js';
import { takeAcknowledgement } from './rules-view.js';

interface StreamEntriesOptions {
  readonly runtime: RulesRuntime;
  readonly log: Logger;
  readonly partition: number;
  readonly staleAfterMs: number;
  /** An actuator (`site/zone/actuator`) whose report was taken, for the next commit. */
  readonly touched: (actuator: string) => void;
}

/**
 * A partition's stream entries into its owner's rules, one at a time, in stream order (live, or
 * replayed dry on a takeover): readings, armed zones, actuator reports, device statuses and alarm
 * acknowledgements. An event id already ruled is dropped (a batch forwarded again after a crash,
 * or a device's resend through another node); history is judged only for safety kinds.
 */
export class StreamEntries {
  /** Event ids ruled lately (a batch forwarded again after a crash comes within seconds). */
  private readonly ruled = new BoundedMap<string, true>(20_000);
  private readonly logLimiter: LogLimiter;
  /** Entries ruled, duplicates dropped, readings taken as history, entries replayed, lines unreadable (counts for metrics). */
  readonly counts = { ruled: 0, duplicates: 0, history: 0, replayed: 0, unreadable: 0 };

  constructor(private readonly o: StreamEntriesOptions) {
    this.logLimiter = new LogLimiter(o.log);
  }

  apply(fields: string[]): void {
    const { runtime } = this.o;
    const { line, at, ns, ack } = entryOf(fields);
    if (ack !== undefined) return void (takeAcknowledgement(runtime, this.o.log, ack) || this.unreadable(ack));
    if (line === undefined) return;
    const parsed = parsePoint(line, at, ns);
    if (!parsed) return this.unreadable(line);
    const dry = runtime.dry;
    if (parsed.type === 'zoneArmed') {
      const { site, zone, armed } = parsed.event;
      // Its shared state follows what the rules took, within their bound (partition-worker.ts).
      runtime.setArmed(site, zone, armed);
      return;
    }
    const e = parsed.event;
    const key = parsed.type === 'reading' ? `${parsed.event.source}|${parsed.event.kind}|${e.id}` : `${parsed.type}|${e.id}`;
    if (this.ruled.has(key)) {
      if (!dry) this.counts.duplicates++;
      return;
    }
    this.ruled.set(key, true);
    switch (parsed.type) {
      case 'actuatorState': {
        const s = parsed.event;
        runtime.onActuatorState(s);
        if (!dry) this.o.touched(`${s.site}/${s.zone}/${s.actuator}`);
        return;
      }
      case 'deviceStatus':
        // In turn with the readings before it (this node's spool order): a device that said
        // offline is away, not silent (rules/watches.ts). Every partition gets it; one whose sites
        // never saw the device ignores it. A takeover's replay of the stream brings it back with
        // the readings (nothing of the watches is in the shared state).
        return runtime.onDeviceStatus(parsed.event);
      case 'reading':
        break;
    }
    const r = parsed.event;
    const latest = runtime.state.deviceLatest(r.source, r.kind);
    if ((latest !== undefined && r.timeMs < latest.timeMs) || r.timeMs < at - this.o.staleAfterMs) {
      if (!dry) this.counts.history++;
      // Safety kinds are judged whenever they arrive, even as history (as a single gateway does).
      if (runtime.isSafety(r.kind)) runtime.onSafetyHistory(r);
      return;
    }
    if (!dry) this.counts.ruled++;
    runtime.onReading(r);
  }

  /** A line another node forwarded that this one cannot read: counted and said (rate-limited), never silently dropped. */
  private unreadable(line: string): void {
    if (this.o.runtime.dry) return;
    this.counts.unreadable++;
    if (this.logLimiter.allow('unreadable')) this.o.log.warn({ partition: this.o.partition, line: line.slice(0, 200) }, 'a forwarded event this node cannot read (a kind it does not know? keep DEVICES_FILE the same on every node): not ruled');
  }
}
