import { FileProblemsError } from '../core/errors.js';
import { Ajv, type ErrorObject } from 'ajv';
import { DURATION_HINT, parseDurationMs } from '../rules/duration.js';
import { SEGMENT_HINT } from '../core/segments.js';

/**
 * Rule scenario files (`rules/tests/*.json`): readings at times relative to a start, and the
 * commands, alerts and dead letters expected — or expected not to happen. See rules/README.md.
 */

export type OutputType = 'command' | 'alert' | 'deadletter';

/** One publish, after `every` is expanded. */
export interface ScenarioStep {
  /** Ms after the start. */
  readonly at: number;
  readonly topic: string;
  readonly payload: string;
  /** The reading's id (correlation ids point back to it). */
  readonly id: string | undefined;
  /** The reading's value, for the report. */
  readonly value: unknown;
  readonly where: string;
}

export interface Expectation {
  readonly type: OutputType;
  /** `site/zone/actuator` (command), `site/severity` (alert), the reason (dead letter). */
  readonly target: string;
  readonly data: Readonly<Record<string, unknown>> | undefined;
  readonly rule: string | undefined;
  /** A part of the alert's message. */
  readonly message: string | undefined;
  readonly at: number | undefined;
  readonly after: number | undefined;
  readonly before: number | undefined;
  readonly where: string;
}

export interface Scenario {
  readonly name: string;
  readonly description: string | undefined;
  readonly file: string;
  /** `scenarios[2]`: where in the file. */
  readonly where: string;
  /** Pack files in force (default: every pack in the rules directory). */
  readonly packs: readonly string[] | undefined;
  readonly startMs: number;
  readonly untilMs: number;
  readonly steps: readonly ScenarioStep[];
  readonly expect: readonly Expectation[];
  readonly expectNot: readonly Expectation[];
  /** Every output must be expected (default true). */
  readonly strict: boolean;
}

/** Monday 5 January 2026, 09:00 gateway local time: a working morning. */
export const DEFAULT_START = '2026-01-05T09:00:00';

const duration = { type: 'string' };
const expectation = {
  type: 'object',
  additionalProperties: false,
  properties: {
    command: { type: 'string', pattern: `^${SEGMENT_HINT}/${SEGMENT_HINT}/${SEGMENT_HINT}$` },
    alert: { type: 'string', pattern: `^${SEGMENT_HINT}/(info|warning|critical)$` },
    deadletter: { type: 'string', minLength: 1 },
    data: { type: 'object' },
    rule: { type: 'string' },
    message: { type: 'string' },
    at: duration,
    after: duration,
    before: duration,
  },
  oneOf: [{ required: ['command'] }, { required: ['alert'] }, { required: ['deadletter'] }],
};
const schema = {
  type: 'object',
  required: ['scenarios'],
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    description: { type: 'string' },
    packs: { type: 'array', items: { type: 'string', pattern: '\\.json$' }, minItems: 1 },
    start: { type: 'string' },
    scenarios: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['name', 'steps'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          description: { type: 'string' },
          packs: { type: 'array', items: { type: 'string', pattern: '\\.json$' }, minItems: 1 },
          start: { type: 'string' },
          until: duration,
          strict: { type: 'boolean' },
          steps: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              required: ['at', 'publish'],
              additionalProperties: false,
              properties: {
                at: duration,
                publish: { type: 'string', minLength: 1 },
                value: {},
                values: { type: 'array', minItems: 1 },
                payload: { type: 'string' },
                id: { type: 'string', minLength: 1 },
                ts: duration,
                every: duration,
                until: duration,
              },
            },
          },
          expect: { type: 'array', items: expectation },
          expectNot: { type: 'array', items: expectation },
        },
      },
    },
  },
};

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);

export class ScenarioFileError extends FileProblemsError {
  override readonly name = 'ScenarioFileError';
  constructor(file: string, problems: readonly string[]) {
    super('GW_ERR_SCENARIO_FILE', file, problems);
  }
}

function describe(e: ErrorObject, doc: unknown): string {
  const parts = e.instancePath.split('/').slice(1);
  let node: unknown = doc;
  let where = '';
  for (const p of parts) {
    node = (node as Record<string, unknown> | undefined)?.[p];
    where += /^\d+$/.test(p) ? `[${p}]` : `.${p}`;
    // Name the scenario, as rule errors name the rule.
    if (where.match(/^\.scenarios\[\d+\]$/)) where += ` (${JSON.stringify((node as { name?: unknown } | undefined)?.name ?? '?')})`;
  }
  where = where.replace(/^\./, '') || '(top level)';
  if (e.keyword === 'additionalProperties') return `${where}: unknown property ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`;
  if (e.keyword === 'oneOf') return `${where}: needs exactly one of "command", "alert", "deadletter"`;
  return `${where}: ${e.message ?? 'is invalid'}`;
}

interface RawStep {
  readonly at: string;
  readonly publish: string;
  readonly value?: unknown;
  readonly values?: unknown[];
  readonly payload?: string;
  readonly id?: string;
  readonly ts?: string;
  readonly every?: string;
  readonly until?: string;
}

type RawExpectation = Record<string, unknown> & { command?: string; alert?: string; deadletter?: string; data?: Record<string, unknown> };

interface RawScenario {
  readonly name: string;
  readonly description?: string;
  readonly packs?: string[];
  readonly start?: string;
  readonly until?: string;
  readonly strict?: boolean;
  readonly steps: RawStep[];
  readonly expect?: RawExpectation[];
  readonly expectNot?: RawExpectation[];
}

/** Parses and checks a scenario file; every problem names the scenario and the step or expectation. */
export function parseScenarioFile(file: string, text: string): Scenario[] {
  let doc: unknown;
  try {
    // A byte-order mark (Windows Notepad's UTF-8) is no part of the JSON, as in a pack.
    doc = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new ScenarioFileError(file, [`not valid JSON: ${(err as Error).message}`]);
  }
  if (!validate(doc)) throw new ScenarioFileError(file, (validate.errors ?? []).filter((e) => e.keyword !== 'required' || !e.schemaPath.includes('oneOf')).map((e) => describe(e, doc)));
  const top = doc as { packs?: string[]; start?: string; scenarios: RawScenario[] };
  const problems: string[] = [];
  const names = new Set<string>();
  const scenarios = top.scenarios.map((raw, i) => {
    const where = `scenarios[${i}] (${JSON.stringify(raw.name)})`;
    if (names.has(raw.name)) problems.push(`${where}: another scenario has this name`);
    names.add(raw.name);
    const startText = raw.start ?? top.start ?? DEFAULT_START;
    const startMs = Date.parse(startText);
    if (Number.isNaN(startMs)) problems.push(`${where}.start: must be an ISO-8601 time such as "${DEFAULT_START}" (local) or "2026-01-05T09:00:00Z" (got ${JSON.stringify(startText)})`);
    const ms = (text: string | undefined, at: string): number | undefined => {
      if (text === undefined) return undefined;
      const value = parseDurationMs(text);
      if (value === undefined) problems.push(`${at}: must be ${DURATION_HINT} from the start (got ${JSON.stringify(text)})`);
      // Past what a Date holds, the run would fail on its first timestamp ("Invalid time value").
      else if (Number.isNaN(new Date((Number.isNaN(startMs) ? 0 : startMs) + value).getTime())) problems.push(`${at}: ${JSON.stringify(text)} from the start is past the last time a date can hold (year 275760)`);
      return value ?? 0;
    };
    let n = 0;
    const steps: ScenarioStep[] = [];
    raw.steps.forEach((s, j) => {
      const at = `${where}.steps[${j}]`;
      const first = ms(s.at, `${at}.at`) ?? 0;
      const givenValue = [s.value !== undefined, s.values !== undefined, s.payload !== undefined].filter(Boolean).length;
      if (givenValue !== 1) problems.push(`${at}: needs exactly one of "value", "values" (with "every") or "payload"`);
      if (s.values && !s.every) problems.push(`${at}.values: needs "every" (the time between two of them)`);
      if (s.until && !s.every) problems.push(`${at}.until: needs "every"`);
      if (s.every && s.value !== undefined && !s.until) problems.push(`${at}.every: needs "until" (or "values")`);
      if (s.every && (s.ts !== undefined || s.id !== undefined)) problems.push(`${at}: "ts" and "id" are for single readings, not with "every"`);
      const every = ms(s.every, `${at}.every`);
      if (every === 0) problems.push(`${at}.every: must be more than zero`);
      const until = ms(s.until, `${at}.until`);
      if (until !== undefined && until < first) problems.push(`${at}.until: must not be before "at"`);
      const ts = ms(s.ts, `${at}.ts`);
      const values: unknown[] = s.values ?? (s.every && until !== undefined && every ? Array.from({ length: Math.floor((until - first) / every) + 1 }, () => s.value) : [s.value]);
      values.forEach((value, k) => {
        const time = first + k * (every ?? 0);
        const id = s.payload !== undefined ? undefined : (s.id ?? `r${++n}`);
        const payload = s.payload ?? JSON.stringify({ value, id, ...(ts !== undefined && !Number.isNaN(startMs) ? { ts: startMs + ts } : {}) });
        steps.push({ at: time, topic: s.publish, payload, id, value: s.payload ?? value, where: values.length > 1 ? `${at} #${k + 1}` : at });
      });
    });
    steps.sort((a, b) => a.at - b.at);
    const expectations = (list: RawExpectation[] | undefined, key: 'expect' | 'expectNot'): Expectation[] =>
      (list ?? []).map((e, j) => {
        const at = `${where}.${key}[${j}]`;
        const type: OutputType = e.command !== undefined ? 'command' : e.alert !== undefined ? 'alert' : 'deadletter';
        if (type !== 'command' && e.data !== undefined) problems.push(`${at}.data: only commands have data (for alerts use "message")`);
        if (type !== 'alert' && e['message'] !== undefined) problems.push(`${at}.message: only alerts have a message`);
        const times = { at: ms(e['at'] as string | undefined, `${at}.at`), after: ms(e['after'] as string | undefined, `${at}.after`), before: ms(e['before'] as string | undefined, `${at}.before`) };
        if (times.at !== undefined && (times.after !== undefined || times.before !== undefined)) problems.push(`${at}: give "at", or "after"/"before", not both`);
        return { type, target: (e.command ?? e.alert ?? e.deadletter)!, data: e.data, rule: e['rule'] as string | undefined, message: e['message'] as string | undefined, ...times, where: at };
      });
    const expect = expectations(raw.expect, 'expect');
    const expectNot = expectations(raw.expectNot, 'expectNot');
    if (expect.length === 0 && expectNot.length === 0 && raw.strict === false) problems.push(`${where}: expects nothing and is not strict, so it can never fail`);
    const latest = Math.max(...steps.map((s) => s.at), ...[...expect, ...expectNot].map((e) => e.at ?? e.before ?? e.after ?? 0));
    const untilMs = ms(raw.until, `${where}.until`) ?? latest;
    if (untilMs < latest) problems.push(`${where}.until: must not be before the last step or expectation`);
    return { name: raw.name, description: raw.description, file, where, packs: raw.packs ?? top.packs, startMs, untilMs, steps, expect, expectNot, strict: raw.strict ?? true };
  });
  if (problems.length > 0) throw new ScenarioFileError(file, problems);
  return scenarios;
}
