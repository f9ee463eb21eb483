import { FileProblemsError } from '../core/errors.js';
import { Ajv } from 'ajv';
import { Rule, type TopLevelCondition } from './jre.js';
import { isKind, kindNames, type Kind } from '../core/kinds.js';
import { checkConditions, kindsTested } from './conditions.js';
import { DURATION_HINT, parseDurationMs } from './duration.js';
import { packSchema } from './pack-schema.js';
import type { WindowNeed } from './series.js';
import type { WatchSpec } from './watches.js';
import { lineAndColumn, schemaProblems } from './pack-errors.js';

/** A rule as it appears in a pack file: json-rules-engine's rule, plus `kinds`. */
export interface RuleDefinition {
  readonly name: string;
  readonly description?: string;
  readonly priority?: number;
  /** The reading kinds this rule reads; inferred from a `kind` condition when absent; empty = every kind. */
  readonly kinds: readonly Kind[];
  /** The conditions with fact params in normal form (defaults filled in, durations in ms). */
  readonly conditions: TopLevelCondition;
  readonly event: RuleEvent;
  /** The file it came from (for errors and logs). */
  readonly file: string;
  /** What its stateful time facts track (held for, absence, hysteresis). */
  readonly watches: readonly WatchSpec[];
  /** The sliding windows its facts read. */
  readonly windows: readonly WindowNeed[];
  /** For an alert rule: the alarm its firings belong to. */
  readonly alarm?: AlarmPolicy;
}

/**
 * How an alert rule's alarm behaves (rules/README.md, "Alarms"): one alarm per rule + site + zone
 * (+ device when `per` is "device"); notified when raised and again at most every `repeatMs`
 * while the rule keeps firing; cleared by `clearWhen` when given, else after `clearAfterMs`
 * without a firing.
 */
export interface AlarmPolicy {
  readonly per: 'zone' | 'device';
  readonly repeatMs: number;
  /** Undefined when only `clearWhen` clears it. */
  readonly clearAfterMs: number | undefined;
  /** Conditions (normal form) that clear it when a reading of its scope meets them. */
  readonly clearWhen: TopLevelCondition | undefined;
}

/** Repeat notifications at most this often, by default. */
export const DEFAULT_REPEAT_MS: Readonly<Record<'info' | 'warning' | 'critical', number>> = { critical: 5 * 60_000, warning: 15 * 60_000, info: 60 * 60_000 };
/** An alarm without `clearWhen` clears after this long without a firing, by default. */
export const DEFAULT_CLEAR_AFTER_MS = 5 * 60_000;

/** The alarm of an alert rule that says nothing about it. */
export function defaultAlarmPolicy(severity: 'info' | 'warning' | 'critical'): AlarmPolicy {
  return { per: 'zone', repeatMs: DEFAULT_REPEAT_MS[severity], clearAfterMs: DEFAULT_CLEAR_AFTER_MS, clearWhen: undefined };
}

export interface CommandParams {
  readonly actuator: string;
  readonly type?: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** `zone` (default): the reading's zone; `site`: every zone of the reading's site. */
  readonly scope?: 'zone' | 'site';
  /** Sent even within the actuator's minimum on/off time (safety rules). */
  readonly force?: boolean;
  /** Sent even while someone has taken the actuator over by hand (MANUAL_HOLD_MS): smoke turning HVAC off. */
  readonly override?: boolean;
}

export interface AlertParams {
  readonly severity: 'info' | 'warning' | 'critical';
  /** `{{device}}`, `{{zone}}`, `{{site}}`, `{{kind}}` and `{{value}}` are filled in. */
  readonly message: string;
  readonly type?: string;
  /** Repeat notifications of the alarm at most this often (a duration; default by severity). */
  readonly repeat?: string;
  /** The same, in seconds (the older name). */
  readonly repeatAfterSeconds?: number;
  /** Clear the alarm after this long without a firing (default 5m), unless `clearWhen` is given. */
  readonly clearAfter?: string;
  /** Conditions that clear the alarm when a reading of its scope meets them. */
  readonly clearWhen?: Readonly<Record<string, unknown>>;
  /** One alarm per zone (default) or per device (default when the rule's time facts read one device). */
  readonly per?: 'zone' | 'device';
}

export type RuleEvent = { readonly type: 'command'; readonly params: CommandParams } | { readonly type: 'alert'; readonly params: AlertParams };

/** An actuator's discipline: once switched, it stays on (or off) at least this long. */
export interface ActuatorPolicy {
  readonly minOnMs: number;
  readonly minOffMs: number;
  /** The command data that means "off" (every field must match). */
  readonly off: Readonly<Record<string, unknown>> | undefined;
  /** The file that set it. */
  readonly file: string;
}

export interface RulePack {
  readonly file: string;
  readonly rules: readonly RuleDefinition[];
  readonly actuators: Readonly<Record<string, ActuatorPolicy>>;
  /** Kinds the rules judge whenever a reading arrives, even one that is history (besides the registry's safety kinds). */
  readonly safetyKinds: readonly Kind[];
}

// verbose: errors carry the value they are about, so a message can show it.
const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const validatePack = ajv.compile(packSchema);

export class RuleFileError extends FileProblemsError {
  override readonly name = 'RuleFileError';
  constructor(file: string, problems: readonly string[]) {
    super('GW_ERR_RULE_FILE', file, problems);
  }
}

interface RawActuator {
  readonly minOn?: string;
  readonly minOff?: string;
  readonly off?: Record<string, unknown>;
}

function checkActuators(raw: Record<string, RawActuator>, file: string, problems: string[]): Record<string, ActuatorPolicy> {
  const out: Record<string, ActuatorPolicy> = {};
  for (const [name, a] of Object.entries(raw)) {
    const where = `actuators.${name}`;
    const ms = (field: 'minOn' | 'minOff'): number => {
      if (a[field] === undefined) return 0;
      const value = parseDurationMs(a[field]);
      if (value === undefined) problems.push(`${where}.${field}: must be ${DURATION_HINT} (got ${JSON.stringify(a[field])})`);
      return value ?? 0;
    };
    const minOnMs = ms('minOn');
    const minOffMs = ms('minOff');
    if ((minOnMs > 0 || minOffMs > 0) && !a.off) problems.push(`${where}: needs "off", the command data that means off (e.g. {"mode":"off"}), to tell on from off`);
    out[name] = { minOnMs, minOffMs, off: a.off, file };
  }
  return out;
}

function alarmPolicy(
  params: AlertParams,
  watches: readonly WatchSpec[],
  windows: readonly WindowNeed[],
  where: string,
  kinds: readonly Kind[],
  problems: string[],
): { policy: AlarmPolicy; watches: readonly WatchSpec[]; windows: readonly WindowNeed[] } {
  const duration = (name: 'repeat' | 'clearAfter'): number | undefined => {
    const given = params[name];
    if (given === undefined) return undefined;
    const ms = parseDurationMs(given);
    if (ms === undefined || ms <= 0) problems.push(`${where}.${name}: must be ${DURATION_HINT}, more than zero (got ${JSON.stringify(given)})`);
    return ms;
  };
  if (params.repeat !== undefined && params.repeatAfterSeconds !== undefined) problems.push(`${where}: give repeat or repeatAfterSeconds, not both`);
  const repeatMs = duration('repeat') ?? (params.repeatAfterSeconds !== undefined ? params.repeatAfterSeconds * 1000 : DEFAULT_REPEAT_MS[params.severity]);
  let clearWhen: TopLevelCondition | undefined;
  let clearWatches: readonly WatchSpec[] = [];
  let clearWindows: readonly WindowNeed[] = [];
  if (params.clearWhen !== undefined) {
    if (params.clearAfter !== undefined) problems.push(`${where}: give clearWhen or clearAfter, not both`);
    const checked = checkConditions(params.clearWhen, `${where}.clearWhen`, kinds, problems);
    clearWhen = checked.conditions as unknown as TopLevelCondition;
    clearWatches = checked.watches;
    clearWindows = checked.windows;
  }
  const clearAfterMs = clearWhen ? undefined : (duration('clearAfter') ?? DEFAULT_CLEAR_AFTER_MS);
  // A rule whose time facts look at one device is about that device.
  const perDevice = [...watches.map((w) => w.scope), ...windows.map((w) => w.scope)].includes('device');
  const per = params.per ?? (perDevice ? 'device' : 'zone');
  return { policy: { per, repeatMs, clearAfterMs, clearWhen }, watches: clearWatches, windows: clearWindows };
}

type RawRule = Omit<RuleDefinition, 'file' | 'kinds' | 'watches' | 'windows'> & { readonly kinds?: Kind[] };

/**
 * Parses and checks one rule pack file. Throws RuleFileError with every problem found, each
 * prefixed by where it is (`rules[2] (hvac-cool).conditions.all[0].params.for: …`).
 */
export function parsePack(file: string, text: string): RulePack {
  let doc: unknown;
  // A byte-order mark (Windows Notepad's UTF-8) is no part of the JSON.
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new RuleFileError(file, [`not valid JSON: ${lineAndColumn(json, (err as Error).message)}`]);
  }
  if (!validatePack(doc)) throw new RuleFileError(file, schemaProblems(validatePack.errors ?? [], doc));
  const problems: string[] = [];
  const rules: RuleDefinition[] = [];
  const names = new Set<string>();
  const { rules: raw, actuators, safetyKinds } = doc as { rules: RawRule[]; actuators?: Record<string, RawActuator>; safetyKinds?: Kind[] };
  raw.forEach((r, i) => {
    const where = `rules[${i}] (${r.name})`;
    if (names.has(r.name)) problems.push(`${where}: duplicate rule name`);
    names.add(r.name);
    const kinds = r.kinds ?? [...kindsTested(r.conditions)];
    if (r.kinds?.length === 0) problems.push(`${where}.kinds: empty, which would run the rule for every kind: list the kinds it reads, or leave "kinds" out to mean every kind`);
    for (const k of r.kinds ?? []) if (!isKind(k)) problems.push(`${where}.kinds: unknown kind ${JSON.stringify(k)} (known: ${kindNames().join(', ')})`);
    const before = problems.length;
    const checked = checkConditions(r.conditions, `${where}.conditions`, kinds, problems);
    if (problems.length === before) {
      try {
        new Rule({ name: r.name, conditions: checked.conditions as unknown as TopLevelCondition, event: r.event, priority: r.priority ?? 1 });
      } catch (err) {
        problems.push(`${where}: ${(err as Error).message}`);
      }
    }
    if (r.event.type === 'alert') placeholderProblems(r.event.params.message, `${where}.event.params.message`, problems);
    const alarm = r.event.type === 'alert' ? alarmPolicy(r.event.params, checked.watches, checked.windows, `${where}.event.params`, kinds, problems) : undefined;
    const watches = [...checked.watches, ...(alarm?.watches ?? [])];
    const windows = [...checked.windows, ...(alarm?.windows ?? [])];
    rules.push({ ...r, conditions: checked.conditions as unknown as TopLevelCondition, kinds, file, watches, windows, ...(alarm ? { alarm: alarm.policy } : {}) });
  });
  for (const k of safetyKinds ?? []) if (!isKind(k)) problems.push(`safetyKinds: unknown kind ${JSON.stringify(k)} (known: ${kindNames().join(', ')})`);
  const policies = checkActuators(actuators ?? {}, file, problems);
  if (problems.length > 0) throw new RuleFileError(file, problems);
  return { file, rules, actuators: policies, safetyKinds: safetyKinds ?? [] };
}

/** What an alert's message may name (rules/actions.ts fills them in); anything else would go out in braces. */
const PLACEHOLDERS = ['device', 'zone', 'site', 'kind', 'value'];

function placeholderProblems(message: unknown, where: string, problems: string[]): void {
  if (typeof message !== 'string') return;
  for (const [whole, name] of message.matchAll(/\{\{(.*?)\}\}/g)) {
    if (!PLACEHOLDERS.includes(name!)) problems.push(`${where}: unknown placeholder ${whole} (known: ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')})`);
  }
}

/** The rules of one pack file (see parsePack). */
export function parseRulePack(file: string, text: string): RuleDefinition[] {
  return [...parsePack(file, text).rules];
}
