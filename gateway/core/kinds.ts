/**
 * The registry of reading kinds: one entry per kind, with its unit, the JSON Schema of its
 * `value`, and how it becomes the numeric `value` field in InfluxDB. The contract's kinds are
 * built in (adding one is one entry below); the device map adds more at runtime (`kinds:` in
 * DEVICES_FILE: `pressure`, `pm25`, `voc`, `voltage`…) through {@link defineKinds}.
 *
 * The hot path reads it with one Map lookup ({@link kindSpec}); a definition is never changed in
 * place, only replaced, so what a caller caches by spec object stays right.
 */
import { nearestName } from './edit-distance.js';
import { isSegment } from './segments.js';

export type ReadingValue = number | boolean | string;

export interface KindSpec {
  readonly name: string;
  readonly unit: string;
  readonly valueSchema: Readonly<Record<string, unknown>>;
  /** The stored field value: booleans 1/0, keypad ok=1 fail=0. */
  readonly toNumber: (value: ReadingValue) => number;
  /** One of the contract's kinds (DESIGN.md), rather than one a device map added. */
  readonly builtin: boolean;
  /** A safety kind (smoke): the rules judge every reading of it when it arrives, even one that is history. */
  readonly safety?: boolean;
}

/** A kind's name: one of the contract's, or one the device map added. */
export type Kind = string;

const number = (minimum: number, maximum: number) => ({ type: 'number', minimum, maximum });
const asNumber = (v: ReadingValue): number => (typeof v === 'boolean' ? (v ? 1 : 0) : Number(v));
const builtin = (name: string, unit: string, valueSchema: Record<string, unknown>, toNumber = asNumber): KindSpec => Object.freeze({ name, unit, valueSchema, toNumber, builtin: true });

export const KINDS = {
  temperature: builtin('temperature', '°C', number(-100, 200)),
  humidity: builtin('humidity', '%', number(0, 100)),
  co2: builtin('co2', 'ppm', number(0, 100000)),
  illuminance: builtin('illuminance', 'lux', number(0, 1000000)),
  occupancy: builtin('occupancy', 'bool', { type: 'boolean' }),
  motion: builtin('motion', 'bool', { type: 'boolean' }),
  contact: builtin('contact', 'bool (true = open)', { type: 'boolean' }),
  smoke: Object.freeze({ ...builtin('smoke', 'bool', { type: 'boolean' }), safety: true }),
  power: builtin('power', 'W', number(-10000000, 10000000)),
  battery: builtin('battery', '%', number(0, 100)),
  keypad: builtin('keypad', '"ok" | "fail"', { enum: ['ok', 'fail'] }, (v) => (v === 'ok' ? 1 : 0)),
} as const satisfies Record<string, KindSpec>;

export type BuiltinKind = keyof typeof KINDS;

/** The contract's kinds (DESIGN.md). {@link kindNames} adds the ones in force from the device map. */
export const KIND_NAMES = Object.keys(KINDS) as BuiltinKind[];

/** A kind the device map adds: name, unit, value type and range. */
export interface KindDefinition {
  readonly name: string;
  readonly unit: string;
  readonly type: 'number' | 'boolean';
  readonly minimum?: number;
  readonly maximum?: number;
}

const specs = new Map<string, KindSpec>(Object.values(KINDS).map((s) => [s.name, s]));
/** Who defined which extra kinds (one gateway in production; several in one test process). */
const owners = new Map<object, readonly KindSpec[]>();
const listeners = new Set<() => void>();

export function kindSpec(name: string): KindSpec | undefined {
  return specs.get(name);
}

export function isKind(name: string): boolean {
  return specs.has(name);
}

/** A dead letter's words for a kind not in force, with the nearest one when it looks like a typo (only on that failing path). */
export function unknownKindDetail(name: string): string {
  const near = nearestName(name, specs.keys());
  return `unknown kind ${JSON.stringify(name)}${near ? `: did you mean "${near}"?` : ''}`;
}

/** Every kind in force: the contract's, then the added ones. */
export function kindNames(): Kind[] {
  return [...specs.keys()];
}

function specOf(d: KindDefinition): KindSpec {
  const valueSchema =
    d.type === 'boolean'
      ? { type: 'boolean' }
      : { type: 'number', ...(d.minimum === undefined ? {} : { minimum: d.minimum }), ...(d.maximum === undefined ? {} : { maximum: d.maximum }) };
  return Object.freeze({ name: d.name, unit: d.unit, valueSchema, toNumber: asNumber, builtin: false });
}

function same(a: KindSpec, b: KindSpec): boolean {
  return a.unit === b.unit && JSON.stringify(a.valueSchema) === JSON.stringify(b.valueSchema);
}

/**
 * Puts `owner`'s extra kinds in force, replacing what it defined before. Returns the problems
 * (nothing changes then): a contract kind redefined, a bad name, a range upside down, or a kind
 * another owner defined differently.
 */
export function defineKinds(owner: object, definitions: readonly KindDefinition[]): string[] {
  const problems: string[] = [];
  const mine: KindSpec[] = [];
  for (const d of definitions) {
    if (Object.hasOwn(KINDS, d.name)) problems.push(`kind ${JSON.stringify(d.name)} is one of the contract's and cannot be redefined`);
    else if (!isSegment(d.name)) problems.push(`kind name ${JSON.stringify(d.name)} must match [A-Za-z0-9_-]{1,64}`);
    else if (d.minimum !== undefined && d.maximum !== undefined && d.minimum > d.maximum) problems.push(`kind ${d.name}: minimum ${d.minimum} is above maximum ${d.maximum}`);
    else {
      const spec = specOf(d);
      for (const [other, theirs] of owners) {
        const clash = other !== owner ? theirs.find((t) => t.name === d.name && !same(t, spec)) : undefined;
        if (clash) problems.push(`kind ${d.name} is already defined with unit ${JSON.stringify(clash.unit)} and ${JSON.stringify(clash.valueSchema)}`);
      }
      mine.push(spec);
    }
  }
  if (problems.length > 0) return problems;
  const before = owners.get(owner) ?? [];
  const changed = before.length !== mine.length || before.some((b, i) => b.name !== mine[i]?.name || !same(b, mine[i]));
  if (!changed) return [];
  if (mine.length === 0) owners.delete(owner);
  else owners.set(owner, mine);
  rebuild();
  return [];
}

/** Takes `owner`'s extra kinds out of force (a gateway stopping). */
export function releaseKinds(owner: object): void {
  if (owners.delete(owner)) rebuild();
}

/** Called after the kinds in force changed (the rules re-index their kinds). */
export function onKindsChanged(listener: () => void): () => void {
  listeners.add(listener);
  return () => void listeners.delete(listener);
}

function rebuild(): void {
  const next = new Map<string, KindSpec>(Object.values(KINDS).map((s) => [s.name, s]));
  for (const list of owners.values()) for (const s of list) if (!next.has(s.name)) next.set(s.name, s);
  // Keep spec objects that did not change, so caches keyed by them stay valid.
  for (const [name, s] of next) {
    const old = specs.get(name);
    if (old && same(old, s)) next.set(name, old);
  }
  specs.clear();
  for (const [name, s] of next) specs.set(name, s);
  for (const listener of listeners) listener();
}

/** The stored number back to the reading's value (booleans 1/0, keypad ok=1 fail=0). */
export function fromNumber(kind: Kind, stored: number): ReadingValue {
  const schema = (kindSpec(kind)?.valueSchema ?? {}) as { type?: string; enum?: readonly string[] };
  if (schema.enum) return stored === 1 ? 'ok' : 'fail';
  if (schema.type === 'boolean') return stored === 1;
  return stored;
}
