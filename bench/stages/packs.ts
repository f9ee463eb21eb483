/**
 * Synthetic rule packs for the per-stage table, one per kind of fact, each over temperature and
 * each firing nothing on ordinary readings (19–25 °C): what a reading that can fire nothing costs
 * in the rules, by what its rules read. Beside them the shipped packs run on the load's mix, and a
 * probe pack makes every reading command (the latency bench's).
 */

const TEMPERATURE = ['temperature'];
const never = (name: string, conditions: unknown) => ({
  name,
  kinds: TEMPERATURE,
  conditions,
  event: { type: 'alert', params: { severity: 'info', message: `${name} at {{device}}`, repeatAfterSeconds: 600 } },
});

/** Four rules each; the thresholds are far from what the readings hold. */
export type FactPack = 'none' | 'value' | 'windows' | 'heldFor' | 'hysteresis' | 'site';

export const FACT_PACKS: Readonly<Record<FactPack, { readonly label: string; readonly rules: unknown[] }>> = {
  none: {
    label: 'no rule reads the kind (the floor: the reading is only recorded)',
    rules: [{ name: 'n-smoke', kinds: ['smoke'], conditions: { all: [{ fact: 'value', operator: 'equal', value: true }] }, event: { type: 'alert', params: { severity: 'critical', message: 'smoke' } } }],
  },
  value: {
    label: 'plain value (value, 4 rules)',
    rules: [
      never('v-hot', { all: [{ fact: 'value', operator: 'greaterThan', value: 60 }] }),
      never('v-cold', { all: [{ fact: 'value', operator: 'lessThan', value: -30 }] }),
      never('v-band', { all: [{ fact: 'value', operator: 'between', value: [55, 58] }] }),
      never('v-outside', { all: [{ fact: 'value', operator: 'outside', value: [-40, 70] }] }),
    ],
  },
  windows: {
    label: 'windows (window, count, rateOfChange; 4 rules)',
    rules: [
      never('w-avg', { all: [{ fact: 'window', params: { agg: 'avg', within: '10m' }, operator: 'greaterThan', value: 60 }] }),
      never('w-max', { all: [{ fact: 'window', params: { agg: 'max', within: '5m' }, operator: 'greaterThan', value: 70 }] }),
      never('w-count', { all: [{ fact: 'count', params: { within: '1m' }, operator: 'greaterThan', value: 1_000_000 }] }),
      never('w-rate', { all: [{ fact: 'rateOfChange', params: { within: '3m', per: '1m' }, operator: 'greaterThan', value: 50 }] }),
    ],
  },
  heldFor: {
    label: 'held-for (heldFor, 4 rules)',
    rules: [
      never('h-hot', { all: [{ fact: 'heldFor', params: { operator: 'greaterThan', value: 60, for: '5m' }, operator: 'equal', value: true }] }),
      never('h-cold', { all: [{ fact: 'heldFor', params: { operator: 'lessThan', value: -30, for: '5m' }, operator: 'equal', value: true }] }),
      never('h-warm-device', { all: [{ fact: 'heldFor', params: { scope: 'device', operator: 'greaterThan', value: 50, for: '10m' }, operator: 'equal', value: true }] }),
      never('h-band', { all: [{ fact: 'heldFor', params: { operator: 'between', value: [55, 58], for: '1m' }, operator: 'equal', value: true }] }),
    ],
  },
  hysteresis: {
    label: 'hysteresis (4 rules)',
    rules: [
      never('y-hot', { all: [{ fact: 'hysteresis', params: { onAbove: 60, offBelow: 55 }, operator: 'equal', value: true }] }),
      never('y-cold', { all: [{ fact: 'hysteresis', params: { onBelow: -30, offAbove: -25 }, operator: 'equal', value: true }] }),
      never('y-device', { all: [{ fact: 'hysteresis', params: { scope: 'device', onAbove: 50, offBelow: 45 }, operator: 'equal', value: true }] }),
      never('y-site', { all: [{ fact: 'hysteresis', params: { scope: 'site', onAbove: 65, offBelow: 60 }, operator: 'equal', value: true }] }),
    ],
  },
  site: {
    label: 'site-wide (anyInSite, latest, window and heldFor at site scope; 4 rules)',
    rules: [
      never('s-smoke', { all: [{ fact: 'anyInSite', params: { kind: 'smoke' }, operator: 'equal', value: true }] }),
      never('s-latest', { all: [{ fact: 'latest', params: { kind: 'temperature', scope: 'site' }, operator: 'greaterThan', value: 60 }] }),
      never('s-window', { all: [{ fact: 'window', params: { agg: 'max', within: '10m', scope: 'site' }, operator: 'greaterThan', value: 60 }] }),
      never('s-held', { all: [{ fact: 'heldFor', params: { scope: 'site', operator: 'greaterThan', value: 60, for: '5m' }, operator: 'equal', value: true }] }),
    ],
  },
};

/** The latency bench's probe pack: in site `lat`, above 30 °C a `probe` on, below 23 °C off. */
export const PROBE_PACK = {
  name: 'latency-probe',
  rules: [
    {
      name: 'probe-on',
      kinds: TEMPERATURE,
      conditions: { all: [{ fact: 'site', operator: 'equal', value: 'lat' }, { fact: 'value', operator: 'greaterThan', value: 30 }] },
      event: { type: 'command', params: { actuator: 'probe', data: { state: 'on' } } },
    },
    {
      name: 'probe-off',
      kinds: TEMPERATURE,
      conditions: { all: [{ fact: 'site', operator: 'equal', value: 'lat' }, { fact: 'value', operator: 'lessThan', value: 23 }] },
      event: { type: 'command', params: { actuator: 'probe', data: { state: 'off' } } },
    },
  ],
};

export const SHIPPED_PACKS = ['hvac.json', 'lighting.json', 'security.json'] as const;
