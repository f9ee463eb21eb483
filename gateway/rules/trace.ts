import { BoundedMap } from '../core/bounded-map.js';
import type { AlarmTransitionEvent, CommandStatusEvent, DecidingFact, ReadingEvent } from '../core/events.js';
import type { History, HistoryItem } from '../core/history.js';
import type { Outcome, Suppression } from './actions.js';
import { describeLost } from './held-back.js';
import { CAME_BACK_FACT } from './differing-report.js';
import type { Firing } from './engine.js';
import type { Wake } from './runtime.js';
import { itemKey, reuseOf } from './trace-reuse.js';

/**
 * The trace: from a reading, a command or an alarm, the whole chain — the reading, the rule
 * firings with the facts that decided them, the commands and notifications, the command's
 * confirmation, retries and failure, the alarm's transitions — with times. Recent chains are kept
 * in memory (bounded); older ones are put together from InfluxDB by event id and correlation id.
 */

export type TraceStep =
  | { readonly t: number; readonly step: 'reading'; readonly id: string; readonly source: string; readonly kind: string; readonly value: unknown }
  | { readonly t: number; readonly step: 'wake'; readonly what: string }
  | { readonly t: number; readonly step: 'firing'; readonly rule: string; readonly facts: readonly DecidingFact[] }
  | { readonly t: number; readonly step: 'held-back'; readonly rule: string; readonly target: string; readonly why: string }
  | { readonly t: number; readonly step: 'command'; readonly id: string; readonly topic: string; readonly rule: string; readonly data: unknown }
  | { readonly t: number; readonly step: 'alert'; readonly id: string; readonly topic: string; readonly rule: string; readonly alarmId: string | undefined; readonly message: string }
  | { readonly t: number; readonly step: 'status'; readonly id: string; readonly commandId: string; readonly status: string; readonly attempt: number; readonly reported: unknown; readonly detail: string | undefined }
  | {
      readonly t: number;
      readonly step: 'alarm';
      readonly id: string;
      readonly alarmId: string;
      readonly transition: string;
      readonly rule: string;
      readonly severity: string;
      readonly count: number;
      readonly message: string;
      readonly reason: string | undefined;
    };

export interface Trace {
  readonly id: string;
  readonly found: boolean;
  /** Where the chain came from. */
  readonly from: 'memory' | 'influxdb' | 'none';
  /** The reading the chain starts from, when known. */
  readonly root: string | undefined;
  readonly steps: readonly TraceStep[];
  /** How many stored readings carry the root's id, when more than one: the device reused it (trace-reuse.ts). */
  readonly reused?: number;
}

interface Chain {
  readonly steps: TraceStep[];
}

/** Alarm transitions kept per alarm in memory (a flood of updates keeps its first and its latest). */
const STEPS_PER_ALARM = 50;

const WHY: Readonly<Record<Exclude<Suppression['kind'], 'overridden'>, string>> = {
  'already-in-state': 'the actuator is already in that state',
  'repeat-window': 'the alarm is active and was notified recently: updated',
  'min-on-off': 'minimum on/off time',
  'manual-hold': 'taken over by hand (manual_override)',
  'memory-full': 'refused: as many actuators or alarms as the rules remember, none of which may go (GW_ERR_MEMORY_FULL)',
};

const why = (s: Suppression): string => (s.kind === 'overridden' ? describeLost(s) : WHY[s.kind]);

/** Within one millisecond, cause before effect: a reading or a timer, the firing, the alarm it raised and its alert, the command and its statuses. */
const STEP_ORDER: Readonly<Record<TraceStep['step'], number>> = { reading: 0, wake: 1, firing: 2, 'held-back': 3, alarm: 4, alert: 5, command: 6, status: 7 };
const inOrder = (a: TraceStep, b: TraceStep): number => a.t - b.t || STEP_ORDER[a.step] - STEP_ORDER[b.step];

/** Recent runs that changed nothing, kept by reading id apart from the chains (a flood's runs do not push chains out). */
const QUIET_RUNS = 1000;

/** A run that changed nothing, as it came (no steps built until someone asks). */
interface QuietRun {
  readonly reading: ReadingEvent;
  readonly wake: Wake | undefined;
  readonly firings: readonly Firing[];
  readonly suppressed: readonly Suppression[];
  readonly t: number;
}

function wakeText(w: Wake): string {
  switch (w.type) {
    case 'watch':
      return `timer: ${w.watchId.split('|')[0] === 'absent' ? 'absence' : 'held for'} (${w.key})`;
    case 'retry':
      return `timer: ${w.target} may switch again`;
    case 'alarm':
      return 'timer: alarm quiet period';
    case 'confirm':
      return `timer: confirmation of ${w.target}`;
  }
}

function statusStep(s: CommandStatusEvent): TraceStep {
  return { t: s.timeMs, step: 'status', id: s.id, commandId: s.commandId, status: s.status, attempt: s.attempt, reported: s.reported, detail: s.detail };
}

function alarmStep(a: AlarmTransitionEvent): TraceStep {
  return { t: a.timeMs, step: 'alarm', id: a.id, alarmId: a.alarmId, transition: a.transition, rule: a.rule, severity: a.severity, count: a.count, message: a.message, reason: a.reason };
}

function readingStep(r: ReadingEvent): TraceStep {
  return { t: r.timeMs, step: 'reading', id: r.id, source: r.source, kind: r.kind, value: r.value };
}

function outcomeStep(o: Outcome): TraceStep {
  if (o.kind === 'command') return { t: o.timeMs, step: 'command', id: o.id, topic: o.topic, rule: o.rule, data: o.cloudEvent.data };
  return { t: o.timeMs, step: 'alert', id: o.id, topic: o.topic, rule: o.rule, alarmId: o.alarmId, message: o.cloudEvent.data.message };
}

/** Recent chains, in memory: by reading id, and every command, notification, alarm and status id to its chain. */
export class TraceLog {
  private readonly chains: BoundedMap<string, Chain>;
  private readonly index: BoundedMap<string, string>;
  private readonly alarms = new BoundedMap<string, { root: string; steps: TraceStep[] }>(5000);
  private readonly quiet = new BoundedMap<string, QuietRun>(QUIET_RUNS);

  constructor(chains = 5000) {
    this.chains = new BoundedMap(chains);
    this.index = new BoundedMap(chains * 10);
  }

  /**
   * A run of the rules that fired something. A run whose firings all changed nothing (the
   * actuator already in that state, an alarm updated between notifications) is the steady state
   * of a hot zone or a flood: it is not made a chain (nor stored), only remembered as it came
   * among the last QUIET_RUNS, so that "why did nothing happen?" has an answer while it is recent.
   */
  ran(reading: ReadingEvent, wake: Wake | undefined, firings: readonly Firing[], suppressed: readonly Suppression[], now: number, outcomes = 1): void {
    // A rule losing to one that changed nothing (two rules contending in a zone's steady state) is quiet too: its text is built when asked.
    if (outcomes === 0 && suppressed.every((s) => s.kind === 'already-in-state' || s.kind === 'repeat-window' || s.kind === 'overridden')) {
      // A reading's first quiet run is kept (a timer's later run of it does not replace it).
      if (!this.quiet.has(reading.id)) this.quiet.set(reading.id, { reading, wake, firings, suppressed, t: now });
      return;
    }
    const chain = this.chain(reading.id, reading);
    chain.steps.push(...runSteps(wake, firings, suppressed, now));
  }

  outcome(o: Outcome): void {
    const root = this.rootOf(o.cloudEvent.correlationid);
    const chain = this.chain(root);
    // An actuator put back after it came back (differing-report.ts): no run of the rules before it, its deciding fact says why.
    if (o.kind === 'command' && o.facts?.[0]?.fact === CAME_BACK_FACT) chain.steps.push({ t: o.timeMs, step: 'firing', rule: o.rule, facts: o.facts });
    chain.steps.push(outcomeStep(o));
    this.index.set(o.id, root);
  }

  status(s: CommandStatusEvent): void {
    const root = this.rootOf(s.commandId);
    this.chain(root).steps.push(statusStep(s));
  }

  /** An alarm transition (an update not stored is not kept either: the flood's steady state). */
  alarm(a: AlarmTransitionEvent, persisted = true): void {
    if (!persisted) return;
    const root = this.rootOf(a.correlationId);
    const step = alarmStep(a);
    this.chain(root).steps.push(step);
    let record = this.alarms.get(a.alarmId);
    if (!record) this.alarms.set(a.alarmId, (record = { root, steps: [] }));
    record.steps.push(step);
    // Keep the first (the raise) and the latest ones.
    if (record.steps.length > STEPS_PER_ALARM) record.steps.splice(1, 1);
    if (!this.index.has(a.alarmId)) this.index.set(a.alarmId, root);
  }

  /** The chain an id belongs to, if it is still in memory. */
  find(id: string): Trace | undefined {
    const alarm = this.alarms.get(id);
    const root = alarm?.root ?? (this.chains.has(id) ? id : this.index.get(id));
    const chain = root === undefined ? undefined : this.chains.get(root);
    const quiet = this.quiet.get(root ?? id);
    if (!chain && !quiet) return undefined;
    const steps = chain ? (alarm ? merge(chain.steps, alarm.steps) : [...chain.steps]) : [readingStep(quiet!.reading)];
    if (quiet) steps.push(...runSteps(quiet.wake, quiet.firings, quiet.suppressed, quiet.t));
    return { id, found: true, from: 'memory', root: root ?? id, steps: steps.sort(inOrder) };
  }

  /** A reading's id stands for itself; a command's id for the reading that caused it. */
  private rootOf(id: string): string {
    return this.index.get(id) ?? id;
  }

  private chain(root: string, reading?: ReadingEvent): Chain {
    let chain = this.chains.get(root);
    if (!chain) {
      chain = { steps: reading ? [readingStep(reading)] : [] };
      this.chains.set(root, chain);
    } else if (reading && !chain.steps.some((s) => s.step === 'reading')) chain.steps.unshift(readingStep(reading));
    return chain;
  }
}

/** What one run of the rules did: the timer that woke them, the firings, what changed nothing and why. */
function runSteps(wake: Wake | undefined, firings: readonly Firing[], suppressed: readonly Suppression[], t: number): TraceStep[] {
  const steps: TraceStep[] = wake ? [{ t, step: 'wake', what: wakeText(wake) }] : [];
  for (const f of firings) steps.push({ t, step: 'firing', rule: f.rule.name, facts: f.facts ?? [] });
  for (const s of suppressed) steps.push({ t, step: 'held-back', rule: s.rule, target: s.target, why: why(s) });
  return steps;
}

function merge(a: readonly TraceStep[], b: readonly TraceStep[]): TraceStep[] {
  const seen = new Set(a.map((s) => ('id' in s ? `${s.step}:${s.id}` : undefined)).filter(Boolean));
  return [...a, ...b.filter((s) => !('id' in s) || !seen.has(`${s.step}:${s.id}`))];
}

/** Steps from stored events: a firing (with its facts, when stored) before each command and alarm raise or update. */
function stepsOf(items: readonly HistoryItem[]): TraceStep[] {
  const steps: TraceStep[] = [];
  for (const item of items) {
    switch (item.type) {
      case 'reading':
        steps.push(readingStep(item.event));
        break;
      case 'command':
        steps.push({ t: item.event.timeMs, step: 'firing', rule: item.event.rule, facts: item.event.facts ?? [] });
        steps.push(outcomeStep(item.event));
        break;
      case 'alert':
        steps.push(outcomeStep(item.event));
        break;
      case 'commandStatus':
        steps.push(statusStep(item.event));
        break;
      case 'alarm':
        if (item.event.facts) steps.push({ t: item.event.timeMs, step: 'firing', rule: item.event.rule, facts: item.event.facts });
        steps.push(alarmStep(item.event));
        break;
      case 'actuatorState':
      case 'zoneArmed':
        break;
    }
  }
  return steps;
}

/** The chain of an id: from memory when it is recent, else from what InfluxDB holds. */
export async function traceOf(id: string, memory: TraceLog | undefined, history: History | undefined): Promise<Trace> {
  const recent = memory?.find(id);
  // From memory as it is: completing it with other readings of a reused id would scan InfluxDB on every trace.
  if (recent) return recent;
  if (!history) return { id, found: false, from: 'none', root: undefined, steps: [] };
  const first = await history.related([id]);
  const own = first.find((i) => i.event.id === id || (i.type === 'alarm' && i.event.alarmId === id) || (i.type === 'commandStatus' && i.event.commandId === id));
  if (!own) return { id, found: false, from: 'none', root: undefined, steps: [] };
  let root = id;
  if (own.type === 'command') root = own.event.cloudEvent.correlationid;
  else if (own.type === 'alert') root = own.event.cloudEvent.correlationid;
  else if (own.type === 'commandStatus') root = own.event.correlationId;
  else if (own.type === 'alarm') {
    const raised = first.filter((i) => i.type === 'alarm' && i.event.alarmId === id).sort((a, b) => a.event.timeMs - b.event.timeMs)[0];
    root = raised?.type === 'alarm' ? raised.event.correlationId : own.event.correlationId;
  }
  const items = new Map<string, HistoryItem>();
  const add = (list: readonly HistoryItem[]) => list.forEach((i) => items.set(itemKey(i), i));
  add(first);
  if (root !== id) add(await history.related([root]));
  // Follow what the chain caused: each command's saga (by command id), each alarm's other transitions.
  const more = new Set<string>();
  for (const i of items.values()) {
    if (i.type === 'command') more.add(i.event.id);
    if (i.type === 'alarm') more.add(i.event.alarmId);
  }
  more.delete(id);
  more.delete(root);
  if (more.size > 0) add(await history.related([...more]));
  // An alarm's updates by other readings belong to those readings' chains, unless the alarm is the subject.
  const steps = stepsOf([...items.values()].filter((i) => i.type !== 'alarm' || i.event.alarmId === id || i.event.correlationId === root || i.event.transition !== 'updated'));
  return { id, found: true, from: 'influxdb', root, steps: steps.sort(inOrder), ...reuseOf(root, steps) };
}
