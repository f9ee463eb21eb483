import { isKind, kindNames, kindSpec, type Kind, type ReadingValue } from '../core/kinds.js';
import { DURATION_HINT, parseDurationMs } from './duration.js';
import { SCOPES, type Scope } from './series.js';

export type Params = Readonly<Record<string, unknown>>;

/**
 * Reads and checks one condition's `params` while a pack is parsed. Each problem is reported
 * with the param's name (`params.for: must be a duration …`); the result is the params in
 * normal form (defaults filled in, durations in ms) that the fact reads at run time.
 */
export class ParamReader {
  readonly out: Record<string, unknown>;

  constructor(
    private readonly params: Params,
    /** The kinds of readings the rule runs for: a time fact's default kind when there is one. */
    private readonly ruleKinds: readonly Kind[],
    private readonly problem: (param: string, message: string) => void,
    allowed: readonly string[],
  ) {
    this.out = { ...params };
    for (const name of Object.keys(params)) {
      if (!allowed.includes(name)) problem(name, `unknown param (known: ${allowed.join(', ')})`);
    }
  }

  has(name: string): boolean {
    return this.params[name] !== undefined;
  }

  /** A kind; without one, the rule's only kind. */
  kind(required: boolean): Kind {
    const given = this.params['kind'];
    if (given !== undefined) {
      if (typeof given === 'string' && isKind(given)) return (this.out['kind'] = given);
      this.problem('kind', `unknown kind ${JSON.stringify(given)} (known: ${kindNames().join(', ')})`);
      return 'temperature';
    }
    const only = this.ruleKinds.length === 1 ? this.ruleKinds[0] : undefined;
    if (required || !only) {
      this.problem('kind', this.ruleKinds.length > 1 && !required ? `required: the rule reads several kinds (${this.ruleKinds.join(', ')}), say which one` : 'required');
      return 'temperature';
    }
    return (this.out['kind'] = only);
  }

  scope(fallback: Scope): Scope {
    const given = this.params['scope'];
    if (given === undefined) return (this.out['scope'] = fallback);
    if (typeof given === 'string' && (SCOPES as readonly string[]).includes(given)) return (this.out['scope'] = given as Scope);
    this.problem('scope', `must be one of ${SCOPES.map((s) => JSON.stringify(s)).join(', ')}`);
    return fallback;
  }

  /** A duration param; its ms go to `<name>Ms`. */
  duration(name: string, required: boolean, fallback?: number): number {
    const given = this.params[name];
    if (given === undefined) {
      if (required) this.problem(name, `required: ${DURATION_HINT}`);
      return (this.out[`${name}Ms`] = fallback ?? 0);
    }
    const ms = parseDurationMs(given);
    if (ms === undefined || ms <= 0) {
      this.problem(name, `must be ${DURATION_HINT}, more than zero (got ${JSON.stringify(given)})`);
      return (this.out[`${name}Ms`] = fallback ?? 1);
    }
    return (this.out[`${name}Ms`] = ms);
  }

  number(name: string, required: boolean): number | undefined {
    const given = this.params[name];
    if (given === undefined) {
      if (required) this.problem(name, 'required: a number');
      return undefined;
    }
    if (typeof given === 'number' && Number.isFinite(given)) return given;
    this.problem(name, `must be a number (got ${JSON.stringify(given)})`);
    return undefined;
  }

  string(name: string, required: boolean, pattern?: RegExp): string | undefined {
    const given = this.params[name];
    if (given === undefined) {
      if (required) this.problem(name, 'required');
      return undefined;
    }
    if (typeof given === 'string' && (!pattern || pattern.test(given))) return given;
    this.problem(name, `must be a string${pattern ? ` matching ${String(pattern)}` : ''} (got ${JSON.stringify(given)})`);
    return undefined;
  }

  oneOf<T extends string>(name: string, choices: readonly T[], fallback?: T): T {
    const given = this.params[name];
    if (given === undefined && fallback !== undefined) return (this.out[name] = fallback);
    if (typeof given === 'string' && (choices as readonly string[]).includes(given)) return given as T;
    this.problem(name, `${given === undefined ? 'required: ' : ''}must be one of ${choices.map((c) => JSON.stringify(c)).join(', ')}${given === undefined ? '' : ` (got ${JSON.stringify(given)})`}`);
    return choices[0]!;
  }

  /** A reading value of `kind` (true/false, "ok"/"fail", or a number). */
  readingValue(name: string, kind: Kind): ReadingValue | undefined {
    const given = this.params[name];
    if (given === undefined) return undefined;
    if (fitsKind(kind, given)) return given;
    this.problem(name, `must be a ${kindSpec(kind)?.unit ?? '?'} value of ${kind} (got ${JSON.stringify(given)})`);
    return undefined;
  }

  problemAt(name: string, message: string): void {
    this.problem(name, message);
  }
}

/** Whether a value could be a reading of this kind (type only; ranges are the ingest's job). */
export function fitsKind(kind: Kind, value: unknown): value is ReadingValue {
  const schema = (kindSpec(kind)?.valueSchema ?? {}) as { type?: string; enum?: readonly string[] };
  if (schema.enum) return typeof value === 'string' && schema.enum.includes(value);
  if (schema.type === 'boolean') return typeof value === 'boolean';
  return typeof value === 'number' && Number.isFinite(value);
}
