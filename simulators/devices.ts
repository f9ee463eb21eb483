/**
 * Simulated devices and the readings they make: temperature drifting with the time of day,
 * occupancy by the hour, doors and motion in bursts. Seeded, so a run is repeatable.
 */
import type { BuiltinKind as Kind } from '../gateway/core/kinds.js';

export type Scenario = 'normal' | 'heatwave' | 'intrusion' | 'fire';
export const SCENARIOS: readonly Scenario[] = ['normal', 'heatwave', 'intrusion', 'fire'];

export type DeviceModel = 'thermostat' | 'presence' | 'door' | 'motion' | 'smoke' | 'air' | 'meter' | 'keypad';

/** What each model measures. */
export const MODEL_KINDS: Readonly<Record<DeviceModel, readonly Kind[]>> = {
  thermostat: ['temperature', 'humidity'],
  presence: ['occupancy', 'illuminance'],
  door: ['contact'],
  motion: ['motion'],
  smoke: ['smoke'],
  air: ['co2'],
  meter: ['power'],
  keypad: ['keypad'],
};

/** The mix of a building: mostly climate and presence sensors. */
const MODEL_MIX: readonly DeviceModel[] = ['thermostat', 'thermostat', 'presence', 'door', 'motion', 'thermostat', 'air', 'smoke', 'meter', 'presence', 'keypad'];

export interface SimDevice {
  readonly id: string;
  readonly site: string;
  readonly zone: string;
  readonly model: DeviceModel;
  readonly kinds: readonly Kind[];
  /** In every reading id (`<device>-<run>-<seq>`), so two runs never send one id for two readings; '' leaves it out. */
  readonly runId: string;
  seq: number;
  lastTs: number;
  /** Per-device offset so zones differ a little. */
  readonly bias: number;
  /** Current state of a bursty sensor (door open, motion seen). */
  burstUntil: number;
  battery: number;
  /** When this keypad last took a wrong code (epoch ms). */
  lastKeypadFailTs: number;
}

/** mulberry32: small, fast, good enough for simulated noise. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FleetOptions {
  readonly devices: number;
  readonly sites?: number;
  readonly zonesPerSite?: number;
  readonly prefix?: string;
  /** The run's token in reading ids (default none: ids `<device>-<seq>`, the same in every run). */
  readonly runId?: string;
  readonly random: () => number;
  /** Adds the devices this scenario needs in its incident zone when the mix left them out. */
  readonly scenario?: Scenario;
}

/** Where an incident scenario happens: the first device's zone (site1/z1). */
export const INCIDENT_ZONE = { site: 'site1', zone: 'z1' } as const;

/**
 * What each scenario needs in its incident zone to show what it is about, whatever `--devices`:
 * an intrusion needs a door and a motion sensor where the zone is armed, a fire a smoke
 * detector and a thermostat, a heatwave a thermostat.
 */
export const SCENARIO_NEEDS: Readonly<Record<Scenario, readonly DeviceModel[]>> = {
  normal: [],
  heatwave: ['thermostat'],
  intrusion: ['door', 'motion'],
  fire: ['smoke', 'thermostat'],
};

function device(id: string, site: string, zone: string, model: DeviceModel, random: () => number, runId = ''): SimDevice {
  return { id, site, zone, model, kinds: MODEL_KINDS[model], runId, seq: 0, lastTs: 0, bias: (random() - 0.5) * 2, burstUntil: 0, battery: 60 + random() * 40, lastKeypadFailTs: Number.NEGATIVE_INFINITY };
}

/**
 * The building: `devices` devices in the usual mix, spread over sites and zones; then, for an
 * incident scenario, one more device of each model it needs that its incident zone lacks (so
 * the fleet of one `--devices` is the same in every scenario, and only grows by what is missing).
 */
export function makeFleet(o: FleetOptions): SimDevice[] {
  const sites = o.sites ?? Math.max(1, Math.ceil(o.devices / 200));
  const zonesPerSite = o.zonesPerSite ?? Math.max(1, Math.min(20, Math.ceil(o.devices / sites / 5)));
  const prefix = o.prefix ?? 'sim';
  const fleet = Array.from({ length: o.devices }, (_, i) => {
    const model = MODEL_MIX[i % MODEL_MIX.length]!;
    return device(`${prefix}-${model}-${i + 1}`, `site${(i % sites) + 1}`, `z${(Math.floor(i / sites) % zonesPerSite) + 1}`, model, o.random, o.runId);
  });
  const { site, zone } = INCIDENT_ZONE;
  for (const model of SCENARIO_NEEDS[o.scenario ?? 'normal']) {
    if (fleet.some((d) => d.site === site && d.zone === zone && d.model === model)) continue;
    fleet.push(device(`${prefix}-${model}-${fleet.length + 1}`, site, zone, model, o.random, o.runId));
  }
  return fleet;
}

/**
 * How much warmer a heatwave is `elapsedMs` after it began: 1.5 °C a minute, up to +9 °C after
 * 6 minutes. A ramp, not a step, so readings just before it (a normal run) and in it make no
 * rise the rules take for a fire ("heat-rising-fast": more than 2 °C a minute).
 */
export const HEATWAVE = { maxC: 9, perMinuteC: 1.5 } as const;
export function heatwaveOffset(elapsedMs: number): number {
  return Math.min(HEATWAVE.maxC, (HEATWAVE.perMinuteC * Math.max(0, elapsedMs)) / 60_000);
}

export interface Reading {
  readonly topic: string;
  readonly payload: string;
  readonly device: SimDevice;
  readonly kind: Kind;
  readonly id: string;
  readonly ts: number;
}

const hourOf = (ms: number): number => new Date(ms).getHours() + new Date(ms).getMinutes() / 60;

/** Occupancy likelihood by hour: offices fill 8–18, a few people in the evening. */
function occupancyChance(hour: number): number {
  if (hour >= 8 && hour < 18) return 0.8;
  if (hour >= 18 && hour < 22) return 0.25;
  return 0.03;
}

/**
 * The next reading of a device. `first` marks the device's first zone in an incident scenario
 * (the fire starts there; the intruder comes in there).
 */
/**
 * `withTs: false` leaves `ts` out of the payload: the gateway then stamps the reading when it
 * arrives. `startedAt`: when the scenario began (a heatwave ramps up from there).
 */
export function nextReading(d: SimDevice, now: number, scenario: Scenario, random: () => number, incidentZone: boolean, withTs = true, startedAt = now): Reading {
  const kind = d.kinds[d.seq % d.kinds.length]!;
  d.seq++;
  const ts = Math.max(now, d.lastTs + 1);
  d.lastTs = ts;
  const hour = hourOf(ts);
  const noise = (random() - 0.5) * 0.4;
  let value: number | boolean | string;
  switch (kind) {
    case 'temperature': {
      // Coolest around 5 h, warmest around 15 h.
      let t = 21.5 + 2.5 * Math.sin(((hour - 9) / 24) * 2 * Math.PI) + d.bias + noise;
      if (scenario === 'heatwave') t += heatwaveOffset(ts - startedAt);
      if (scenario === 'fire' && incidentZone) t += Math.min(40, d.seq * 0.5);
      value = Math.round(t * 10) / 10;
      break;
    }
    case 'humidity':
      value = Math.round((45 + 10 * Math.sin((hour / 24) * 2 * Math.PI) + d.bias * 3 + noise * 5 - (scenario === 'heatwave' ? (heatwaveOffset(ts - startedAt) * 15) / HEATWAVE.maxC : 0)) * 10) / 10;
      break;
    case 'co2':
      value = Math.round(420 + occupancyChance(hour) * 600 + random() * 80);
      break;
    case 'illuminance': {
      const daylight = Math.max(0, Math.sin(((hour - 6) / 12) * Math.PI));
      value = Math.round(daylight * 600 + (random() < occupancyChance(hour) ? 250 : 0) + random() * 20);
      break;
    }
    case 'occupancy':
      value = random() < occupancyChance(hour);
      break;
    case 'motion':
    case 'contact': {
      // Bursts: once something happens it keeps happening for a little while.
      const burstChance = scenario === 'intrusion' && incidentZone ? 0.5 : kind === 'motion' ? occupancyChance(hour) * 0.3 : 0.05;
      if (now >= d.burstUntil && random() < burstChance) d.burstUntil = now + 2000 + random() * 8000;
      value = now < d.burstUntil;
      break;
    }
    case 'smoke':
      value = scenario === 'fire' && incidentZone && d.seq > 3;
      break;
    case 'power':
      value = Math.round(200 + occupancyChance(hour) * 1800 + random() * 150 + (scenario === 'heatwave' ? (heatwaveOffset(ts - startedAt) * 2500) / HEATWAVE.maxC : 0));
      break;
    case 'battery':
      d.battery = Math.max(0, d.battery - 0.001);
      value = Math.round(d.battery * 10) / 10;
      break;
    case 'keypad': {
      if (scenario === 'intrusion' && incidentZone) {
        value = 'fail';
        break;
      }
      // A mistyped code, then the right one: at most one wrong code a minute, so everyday use
      // never looks like someone guessing (three within a minute is the shipped alert).
      const fail = random() < 0.05 && ts - d.lastKeypadFailTs >= 60_000;
      if (fail) d.lastKeypadFailTs = ts;
      value = fail ? 'fail' : 'ok';
      break;
    }
  }
  const id = d.runId ? `${d.id}-${d.runId}-${d.seq}` : `${d.id}-${d.seq}`;
  return {
    topic: `sensors/${d.site}/${d.zone}/${d.id}/${kind}`,
    payload: JSON.stringify(withTs ? { value, ts, seq: d.seq, id } : { value, seq: d.seq, id }),
    device: d,
    kind,
    id,
    ts,
  };
}
