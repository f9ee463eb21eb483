/**
 * Collects what one native message carried: each value mapped to its contract kind and unit (or
 * kept unmapped), problems named by key, and the final {@link DecodeResult}.
 */
import { CONTRACT_UNITS, type ActuatorReport, type ContractKind, type DecodeResult, type Family, type Learnt, type NativeReading } from './types.js';
import { isScalar, rawScalar, round2, show, toBool, toCelsius, toNumber, type Json } from './normalise.js';

export interface MapOptions {
  /** Unit the firmware sent a temperature in (`C`, `F`, `K`); default °C. */
  unit?: string;
  /** The firmware's true means closed (Zigbee2MQTT `contact`): flipped to the contract's true = open. */
  invert?: boolean;
  /** Multiply a numeric value (kW → W). */
  scale?: number;
}

export type Mapped = { ok: true; value: number | boolean | string } | { ok: false; why: string };

const OPEN_WORDS = new Set(['open', 'opened']);
const CLOSED_WORDS = new Set(['close', 'closed']);

/** A raw value in contract units and polarity for `kind`, or why it is not one. */
export function mapValue(kind: ContractKind, raw: Json | undefined, opts: MapOptions = {}): Mapped {
  switch (kind) {
    case 'temperature':
    case 'humidity':
    case 'co2':
    case 'illuminance':
    case 'power':
    case 'battery': {
      const n = toNumber(raw);
      if (n === null) return { ok: false, why: `is ${show(raw)}, not a number` };
      if (kind === 'temperature') {
        const c = toCelsius(n, opts.unit);
        if (c === null) return { ok: false, why: `has unit ${show(opts.unit)}, not one of °C, °F, K` };
        return { ok: true, value: c };
      }
      return { ok: true, value: opts.scale === undefined ? n : round2(n * opts.scale) };
    }
    case 'occupancy':
    case 'motion':
    case 'contact':
    case 'smoke': {
      let b = toBool(raw);
      if (b === null && kind === 'contact' && typeof raw === 'string') {
        const s = raw.trim().toLowerCase();
        b = OPEN_WORDS.has(s) ? true : CLOSED_WORDS.has(s) ? false : null;
      }
      if (b === null) return { ok: false, why: `is ${show(raw)}, not a boolean` };
      return { ok: true, value: opts.invert ? !b : b };
    }
    case 'keypad': {
      const s = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
      if (s === 'ok' || s === 'fail') return { ok: true, value: s };
      return { ok: false, why: `is ${show(raw)}, not "ok" or "fail"` };
    }
  }
}

/** Accumulates one message's readings, actuator reports and problems. */
export class Collector {
  readonly readings: NativeReading[] = [];
  readonly actuators: ActuatorReport[] = [];
  readonly otherKeys: string[] = [];
  readonly problems: string[] = [];
  ts: string | undefined;

  constructor(
    readonly family: Family,
    readonly nativeId: string,
  ) {}

  /** A value under `key`: mapped when `kind` is set (a bad value becomes a problem), otherwise kept as sent. */
  add(key: string, kind: ContractKind | null, raw: Json | undefined, opts: MapOptions & { channel?: string; nativeUnit?: string } = {}): void {
    if (kind === null) {
      this.unmapped(key, raw, opts.nativeUnit, opts.channel);
      return;
    }
    const m = mapValue(kind, raw, opts);
    if (!m.ok) {
      this.problem(`${key} ${m.why}`);
      return;
    }
    const r: NativeReading = { key, kind, value: m.value };
    const unit = CONTRACT_UNITS[kind];
    if (unit !== undefined) r.unit = unit;
    if (opts.channel !== undefined) r.channel = opts.channel;
    this.readings.push(r);
  }

  /** A key that maps to no kind: scalars are kept (numbers sent as strings parsed), anything else listed. */
  unmapped(key: string, raw: Json | undefined, unit?: string, channel?: string): void {
    if (!isScalar(raw)) {
      this.otherKeys.push(key);
      return;
    }
    const r: NativeReading = { key, kind: null, value: rawScalar(raw) };
    if (unit !== undefined) r.unit = unit;
    if (channel !== undefined) r.channel = channel;
    this.readings.push(r);
  }

  actuator(report: ActuatorReport): void {
    this.actuators.push(report);
  }

  problem(what: string): void {
    this.problems.push(what);
  }

  /** `decoded`, or `failure` when nothing decoded and something went wrong. */
  result(): DecodeResult {
    if (this.problems.length > 0 && this.readings.length === 0 && this.actuators.length === 0) {
      return failure(this.family, this.nativeId, this.problems.join('; '));
    }
    const out: DecodeResult = {
      outcome: 'decoded',
      family: this.family,
      nativeId: this.nativeId,
      readings: this.readings,
      actuators: this.actuators,
      otherKeys: this.otherKeys,
      problems: this.problems.map((p) => `${this.family}:${this.nativeId}: ${p}`),
    };
    if (this.ts !== undefined) out.ts = this.ts;
    return out;
  }
}

/** A failure whose detail names family, device and key: `tasmota:tasmota_A1B2C3: AM2301.Temperature is "n/a", not a number`. */
export function failure(family: Family, nativeId: string | undefined, what: string): DecodeResult {
  const out: DecodeResult = { outcome: 'failure', family, detail: nativeId === undefined ? `${family}: ${what}` : `${family}:${nativeId}: ${what}` };
  if (nativeId !== undefined) out.nativeId = nativeId;
  return out;
}

export function recognised(family: Family, nativeId: string | undefined, what: string): DecodeResult {
  const out: DecodeResult = { outcome: 'recognised', family, what };
  if (nativeId !== undefined) out.nativeId = nativeId;
  return out;
}

/** Traffic that says the device just restarted or rejoined (types.ts `Recognised.cameBack`). */
export function cameBack(family: Family, nativeId: string, what: string, why: string): DecodeResult {
  return { outcome: 'recognised', family, nativeId, what, cameBack: why };
}

/** `r` with what it taught (types.ts `Learnt`), when it taught something. */
export function teach(r: DecodeResult, fact: Learnt | readonly Learnt[] | undefined): DecodeResult {
  const facts: readonly Learnt[] = fact === undefined ? [] : isList(fact) ? fact : [fact];
  if (facts.length > 0 && r.outcome !== 'not_mine') r.learnt = [...(r.learnt ?? []), ...facts];
  return r;
}

const isList = (f: Learnt | readonly Learnt[]): f is readonly Learnt[] => Array.isArray(f);

export const NOT_MINE: DecodeResult = Object.freeze({ outcome: 'not_mine' });
