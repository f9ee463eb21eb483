/**
 * The registry of reading kinds: one entry per kind, with its unit, the JSON Schema of its
 * `value`, and how it becomes the numeric `value` field in InfluxDB. Adding a kind is one entry.
 */
export interface KindSpec {
  readonly unit: string;
  readonly valueSchema: Readonly<Record<string, unknown>>;
  /** The stored field value: booleans 1/0, keypad ok=1 fail=0. */
  readonly toNumber: (value: ReadingValue) => number;
  /** A safety kind (smoke): the rules judge every reading of it when it arrives, even one that is history. */
  readonly safety?: boolean;
}

export type ReadingValue = number | boolean | string;

const number = (minimum: number, maximum: number) => ({ type: 'number', minimum, maximum });
const asNumber = (v: ReadingValue): number => (typeof v === 'boolean' ? (v ? 1 : 0) : Number(v));

export const KINDS = {
  temperature: { unit: '°C', valueSchema: number(-100, 200), toNumber: asNumber },
  humidity: { unit: '%', valueSchema: number(0, 100), toNumber: asNumber },
  co2: { unit: 'ppm', valueSchema: number(0, 100000), toNumber: asNumber },
  illuminance: { unit: 'lux', valueSchema: number(0, 1000000), toNumber: asNumber },
  occupancy: { unit: 'bool', valueSchema: { type: 'boolean' }, toNumber: asNumber },
  motion: { unit: 'bool', valueSchema: { type: 'boolean' }, toNumber: asNumber },
  contact: { unit: 'bool (true = open)', valueSchema: { type: 'boolean' }, toNumber: asNumber },
  smoke: { unit: 'bool', valueSchema: { type: 'boolean' }, toNumber: asNumber, safety: true },
  power: { unit: 'W', valueSchema: number(-10000000, 10000000), toNumber: asNumber },
  battery: { unit: '%', valueSchema: number(0, 100), toNumber: asNumber },
  keypad: { unit: '"ok" | "fail"', valueSchema: { enum: ['ok', 'fail'] }, toNumber: (v) => (v === 'ok' ? 1 : 0) },
} as const satisfies Record<string, KindSpec>;

export type Kind = keyof typeof KINDS;

export const KIND_NAMES = Object.keys(KINDS) as Kind[];

export function isKind(name: string): name is Kind {
  return Object.hasOwn(KINDS, name);
}
