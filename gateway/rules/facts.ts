import type { Engine } from 'json-rules-engine';
import type { ReadingEvent } from '../events.js';
import { isKind } from '../ingest/kinds.js';
import type { ZoneState } from './state.js';
import { truthy } from './operators.js';

/** What a fact can see while a reading runs through the rules. */
export interface FactContext {
  readonly reading: ReadingEvent;
  readonly state: ZoneState;
}

type Params = Record<string, unknown>;

interface FactSpec {
  readonly description: string;
  readonly example: string;
  /** A dynamic fact computed from the context; runtime facts (from the reading) have none. */
  readonly compute?: (ctx: FactContext, params: Params) => unknown;
}

/** Facts from the reading itself, passed to every run. */
const READING_FACTS = {
  value: { description: 'the reading’s value: a number, true/false, or "ok"/"fail"', example: '{"fact":"value","operator":"greaterThan","value":26}' },
  kind: { description: 'the reading’s kind (temperature, motion, …)', example: '{"fact":"kind","operator":"equal","value":"temperature"}' },
  site: { description: 'the site segment of the topic', example: '{"fact":"site","operator":"equal","value":"hq"}' },
  zone: { description: 'the zone segment of the topic', example: '{"fact":"zone","operator":"in","value":["lobby","f1"]}' },
  device: { description: 'the device segment of the topic', example: '{"fact":"device","operator":"equal","value":"t-101"}' },
  hour: { description: 'hour of day (0–23, gateway local time) of the reading', example: '{"fact":"hour","operator":"between","value":[8,18]}' },
  weekday: { description: 'day of week of the reading, 0 = Sunday … 6 = Saturday', example: '{"fact":"weekday","operator":"in","value":[1,2,3,4,5]}' },
} satisfies Record<string, FactSpec>;

function param(params: Params, name: string): unknown {
  return params[name];
}

/** Facts computed from what the gateway knows of the building. */
const STATE_FACTS = {
  latest: {
    description:
      'the latest value of another kind; params: kind (required), scope "zone" (default, any device in the reading’s zone) or "device", default (when nothing is known)',
    example: '{"fact":"latest","params":{"kind":"illuminance","default":0},"operator":"lessThan","value":100}',
    compute: ({ reading, state }: FactContext, params: Params) => {
      const kind = param(params, 'kind');
      if (typeof kind !== 'string' || !isKind(kind)) return undefined;
      const latest = param(params, 'scope') === 'device' ? state.deviceLatest(reading.source, kind) : state.zoneLatest(reading.site, reading.zone, kind);
      return latest?.value ?? param(params, 'default');
    },
  },
  armed: {
    description: 'true when the reading’s zone is armed (set on zones/<site>/<zone>/armed)',
    example: '{"fact":"armed","operator":"equal","value":true}',
    compute: ({ reading, state }: FactContext) => state.isArmed(reading.site, reading.zone),
  },
  anyInSite: {
    description: 'true when the latest value of params.kind is true (or ≥ 1) in any zone of the reading’s site (e.g. smoke anywhere)',
    example: '{"fact":"anyInSite","params":{"kind":"smoke"},"operator":"equal","value":false}',
    compute: ({ reading, state }: FactContext, params: Params) => {
      const kind = param(params, 'kind');
      if (typeof kind !== 'string' || !isKind(kind)) return false;
      return state.siteLatest(reading.site, kind).some((l) => truthy(l.value) === true || l.numeric >= 1);
    },
  },
} satisfies Record<string, FactSpec>;

export const FACTS: Readonly<Record<string, FactSpec>> = { ...READING_FACTS, ...STATE_FACTS };
export const FACT_NAMES: readonly string[] = Object.keys(FACTS);

/** The runtime facts of one reading. */
export function readingFacts(r: ReadingEvent): Record<string, unknown> {
  const date = new Date(r.timeMs);
  return { value: r.value, kind: r.kind, site: r.site, zone: r.zone, device: r.device, hour: date.getHours(), weekday: date.getDay() };
}

/** Registers the computed facts on an engine; `context()` gives the reading being evaluated. */
export function addStateFacts(engine: Engine, context: () => FactContext): void {
  for (const [name, spec] of Object.entries(STATE_FACTS)) {
    engine.addFact(name, (params: Params) => spec.compute(context(), params), { cache: false });
  }
}
