import type { Engine } from './jre.js';
import type { ReadingEvent } from '../core/events.js';
import { isKind, type Kind } from '../core/kinds.js';
import type { ParamReader, Params } from './fact-params.js';
import type { SeriesStore, WindowNeed } from './series.js';
import type { ZoneState } from './state.js';
import { TIME_FACTS } from './time-facts.js';
import type { WatchSpec, Watches } from './watches.js';
import { SEGMENT } from '../core/segments.js';

/** What a fact can see while a reading (or a timer) runs through the rules. */
export interface FactContext {
  readonly reading: ReadingEvent;
  /** The rules clock's time of this run (a timer's run: when it fired). */
  readonly now: number;
  readonly state: ZoneState;
  readonly series: SeriesStore;
  readonly watches: Watches;
  /** The data last commanded to an actuator, if any. */
  readonly actuator: (site: string, zone: string, actuator: string) => Readonly<Record<string, unknown>> | undefined;
}

export interface FactSpec {
  readonly description: string;
  readonly example: string;
  /** Evaluation order within a condition group (higher first): cheap facts first, so a failing `value` test skips the rest. */
  readonly priority: number;
  /** The params it takes (an unknown one is an error); none when absent. */
  readonly params?: readonly string[];
  /** Checks the params when a pack is parsed and puts them in normal form. */
  readonly check?: (p: ParamReader) => void;
  readonly compute: (ctx: FactContext, params: Params) => unknown;
  /** For facts that track readings as they come (held for, absence, hysteresis). */
  readonly watch?: (params: Params) => WatchSpec;
  /** For facts over a sliding window of readings. */
  readonly window?: (params: Params) => WindowNeed;
}

const READING = 100;
const STATE = 50;

const localDate = (ms: number) => new Date(ms);
const pad = (n: number) => String(n).padStart(2, '0');

/** Facts about the reading itself and the time of the run. */
const READING_FACTS: Record<string, FactSpec> = {
  value: { description: 'the reading’s value: a number, true/false, or "ok"/"fail"', example: '{"fact":"value","operator":"greaterThan","value":26}', priority: READING, compute: (c) => c.reading.value },
  kind: { description: 'the reading’s kind (temperature, motion, …)', example: '{"fact":"kind","operator":"equal","value":"temperature"}', priority: READING, compute: (c) => c.reading.kind },
  site: { description: 'the site segment of the reading’s topic', example: '{"fact":"site","operator":"equal","value":"hq"}', priority: READING, compute: (c) => c.reading.site },
  zone: { description: 'the zone segment of the reading’s topic', example: '{"fact":"zone","operator":"in","value":["lobby","f1"]}', priority: READING, compute: (c) => c.reading.zone },
  device: { description: 'the device segment of the reading’s topic', example: '{"fact":"device","operator":"equal","value":"t-101"}', priority: READING, compute: (c) => c.reading.device },
  hour: { description: 'hour of day now (0–23, gateway local time: set `TZ`)', example: '{"fact":"hour","operator":"between","value":[8,18]}', priority: READING, compute: (c) => localDate(c.now).getHours() },
  weekday: { description: 'day of week now, 0 = Sunday … 6 = Saturday (gateway local time)', example: '{"fact":"weekday","operator":"in","value":[1,2,3,4,5]}', priority: READING, compute: (c) => localDate(c.now).getDay() },
  timeOfDay: {
    description: 'time of day now as "HH:MM" (gateway local time); compare with `timeBetween`',
    example: '{"fact":"timeOfDay","operator":"timeBetween","value":["22:00","06:00"]}',
    priority: READING,
    compute: (c) => {
      const d = localDate(c.now);
      return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    },
  },
};

const kindOf = (params: Params): Kind | undefined => {
  const kind = params['kind'];
  return typeof kind === 'string' && isKind(kind) ? kind : undefined;
};

/** Facts from what the gateway knows of the building now. */
const STATE_FACTS: Record<string, FactSpec> = {
  latest: {
    description:
      'the latest value of a kind: `kind` (required), `scope` "zone" (default: any device in the reading’s zone), "device" or "site", `default` (when none is known), `maxAge` (older values count as unknown)',
    example: '{"fact":"latest","params":{"kind":"illuminance","default":0},"operator":"lessThan","value":100}',
    priority: STATE,
    params: ['kind', 'scope', 'default', 'maxAge'],
    check: (p) => {
      p.kind(true);
      p.scope('zone');
      if (p.has('maxAge')) p.duration('maxAge', false);
    },
    compute: ({ reading, state, now }, params) => {
      const kind = kindOf(params);
      if (!kind) return undefined;
      const scope = params['scope'];
      const latest = scope === 'device' ? state.deviceLatest(reading.source, kind) : scope === 'site' ? state.siteNewest(reading.site, kind) : state.zoneLatestOf(reading.source, reading.site, reading.zone, kind);
      const maxAgeMs = params['maxAgeMs'];
      if (!latest || (typeof maxAgeMs === 'number' && now - latest.timeMs > maxAgeMs)) return params['default'];
      return latest.value;
    },
  },
  armed: {
    description: 'true when the reading’s zone is armed (`zones/<site>/<zone>/armed` ← `true`, or the API)',
    example: '{"fact":"armed","operator":"equal","value":true}',
    priority: STATE,
    compute: ({ reading, state }) => state.isArmed(reading.site, reading.zone),
  },
  anyInSite: {
    description: 'true when the latest value of `kind` is true (or ≥ 1) in any zone of the reading’s site (smoke anywhere)',
    example: '{"fact":"anyInSite","params":{"kind":"smoke"},"operator":"equal","value":false}',
    priority: STATE,
    params: ['kind'],
    check: (p) => void p.kind(true),
    compute: ({ reading, state }, params) => {
      const kind = kindOf(params);
      if (!kind) return false;
      return state.anyInSite(reading.site, kind);
    },
  },
  actuator: {
    description:
      'what the gateway last commanded an actuator of the reading’s zone: `actuator` (required), `field` (one field of the command’s data, e.g. "mode"), `default` (never commanded)',
    example: '{"fact":"actuator","params":{"actuator":"hvac","field":"mode","default":"off"},"operator":"equal","value":"cool"}',
    priority: STATE,
    params: ['actuator', 'field', 'default'],
    check: (p) => {
      p.string('actuator', true, SEGMENT);
      p.string('field', false);
    },
    compute: ({ reading, actuator }, params) => {
      const data = actuator(reading.site, reading.zone, String(params['actuator']));
      if (!data) return params['default'];
      const field = params['field'];
      return typeof field === 'string' ? (data[field] ?? params['default']) : data;
    },
  },
};

export const FACTS: Readonly<Record<string, FactSpec>> = { ...READING_FACTS, ...STATE_FACTS, ...TIME_FACTS };
export const FACT_NAMES: readonly string[] = Object.keys(FACTS);

/**
 * Registers the facts on an engine (`only`: just those its rules read; json-rules-engine adds
 * every registered fact to each run's almanac); `context()` gives the run in progress.
 */
export function addFacts(engine: Engine, context: () => FactContext, only?: ReadonlySet<string>): void {
  for (const [name, spec] of Object.entries(FACTS)) {
    if (only && !only.has(name)) continue;
    engine.addFact(name, (params: Params) => spec.compute(context(), params), { cache: false, priority: spec.priority });
  }
}
