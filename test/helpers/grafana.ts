/**
 * The Grafana dashboards under dashboards/json, read the way Grafana reads them: checked against
 * JSON Schema generated from Grafana's own TypeScript types (@grafana/schema, pinned to the
 * Grafana image), and their InfluxQL made runnable by filling in what Grafana fills in
 * ($timeFilter, $__interval, template variables).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './process.js';

export const DASHBOARDS_DIR = resolve(ROOT, 'dashboards', 'json');
const TYPES_FILE = resolve(ROOT, 'test', 'dashboards', 'grafana-types.ts');

export interface Target {
  readonly refId: string;
  readonly query: string;
  readonly resultFormat?: string;
  readonly datasource?: { readonly uid?: string; readonly type?: string };
}
export interface PanelJson {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: { readonly uid?: string; readonly type?: string };
  readonly targets?: readonly Target[];
  readonly options?: unknown;
  readonly fieldConfig?: { readonly defaults?: { readonly custom?: unknown } };
  readonly gridPos?: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly panels?: readonly PanelJson[];
}
export interface VariableJson {
  readonly name: string;
  readonly type: string;
  readonly query?: string;
  readonly multi?: boolean;
  readonly includeAll?: boolean;
  readonly allValue?: string;
  readonly datasource?: { readonly uid?: string };
  readonly current?: { readonly value: string | readonly string[] };
}
export interface DashboardJson {
  readonly uid: string;
  readonly title: string;
  readonly time?: { readonly from: string; readonly to: string };
  readonly panels?: readonly PanelJson[];
  readonly templating?: { readonly list?: readonly VariableJson[] };
  readonly annotations?: { readonly list?: readonly { readonly name: string; readonly builtIn?: number; readonly datasource?: { readonly uid?: string }; readonly target?: Target }[] };
}

export async function loadDashboards(): Promise<{ file: string; json: DashboardJson }[]> {
  const files = (await readdir(DASHBOARDS_DIR)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map(async (file) => ({ file, json: JSON.parse(await readFile(join(DASHBOARDS_DIR, file), 'utf8')) as DashboardJson })));
}

/** The uid of the InfluxDB data source that provisioning creates. */
export async function provisionedDatasourceUid(): Promise<string> {
  const doc = parseYaml(await readFile(resolve(ROOT, 'dashboards', 'provisioning', 'datasources', 'influxdb.yml'), 'utf8')) as { datasources: { uid: string; type: string }[] };
  const influx = doc.datasources.find((d) => d.type === 'influxdb');
  if (!influx) throw new Error('no influxdb data source in the provisioning');
  return influx.uid;
}

/** Panel type → the generated types for its options and its fieldConfig.defaults.custom. */
const PANEL_TYPES: Readonly<Record<string, readonly [options: string, custom: string]>> = {
  timeseries: ['TimeSeriesPanelOptions', 'TimeSeriesPanelFieldConfig'],
  stat: ['StatPanelOptions', 'StatPanelFieldConfig'],
  table: ['TablePanelOptions', 'TablePanelFieldConfig'],
  bargauge: ['BarGaugePanelOptions', 'BarGaugePanelFieldConfig'],
  piechart: ['PieChartPanelOptions', 'PieChartPanelFieldConfig'],
  'state-timeline': ['StateTimelinePanelOptions', 'StateTimelinePanelFieldConfig'],
};

export type DashboardChecker = (dashboard: unknown, datasourceUid: string) => string[];

/** Generates the schemas once (about 1.5 s) and returns a checker: problems, or [] for a dashboard Grafana will load. */
export function dashboardChecker(): DashboardChecker {
  const generator = createGenerator({ path: TYPES_FILE, tsconfig: resolve(ROOT, 'tsconfig.json'), skipTypeCheck: true, additionalProperties: false, expose: 'none', topRef: false, jsDoc: 'none' });
  const ajv = new Ajv({ allErrors: true, strict: false });
  const compiled = new Map<string, ValidateFunction>();
  const validator = (type: string): ValidateFunction => {
    let v = compiled.get(type);
    if (!v) {
      v = ajv.compile(generator.createSchema(type));
      compiled.set(type, v);
    }
    return v;
  };
  const check = (type: string, value: unknown, at: string): string[] => {
    const validate = validator(type);
    return validate(value) ? [] : (validate.errors ?? []).map((e) => describe(e, at));
  };

  return (dashboard, datasourceUid) => {
    const problems: string[] = [];
    const d = dashboard as DashboardJson;
    // Panels are checked one by one below, for messages that name the panel.
    problems.push(...check('GrafanaDashboard', dashboard, '').filter((p) => !p.startsWith('/panels/')));
    const ids = new Set<number>();
    const panels = (d.panels ?? []).flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]));
    for (const [i, p] of panels.entries()) {
      const at = `/panels/${i} (${p.title ?? p.type})`;
      if (p.type === 'row') continue;
      problems.push(...check('InfluxPanel', p, at));
      if (ids.has(p.id)) problems.push(`${at}: id ${p.id} is used twice`);
      ids.add(p.id);
      const types = PANEL_TYPES[p.type];
      if (!types) {
        problems.push(`${at}: panel type "${p.type}" is not one of ${Object.keys(PANEL_TYPES).join(', ')}`);
        continue;
      }
      problems.push(...check(types[0], p.options ?? {}, `${at}/options`));
      problems.push(...check(types[1], p.fieldConfig?.defaults?.custom ?? {}, `${at}/fieldConfig/defaults/custom`));
      if (p.gridPos && p.gridPos.x + p.gridPos.w > 24) problems.push(`${at}: gridPos reaches past the 24 columns`);
      if (p.datasource?.uid !== datasourceUid) problems.push(`${at}: datasource uid ${p.datasource?.uid} is not the provisioned ${datasourceUid}`);
      if (!p.targets?.length) problems.push(`${at}: has no query`);
      for (const t of p.targets ?? []) if (t.datasource && t.datasource.uid !== datasourceUid) problems.push(`${at}/targets/${t.refId}: datasource uid ${t.datasource.uid} is not ${datasourceUid}`);
    }
    for (const v of d.templating?.list ?? []) if (v.type === 'query' && v.datasource?.uid !== datasourceUid) problems.push(`/templating/${v.name}: datasource uid ${v.datasource?.uid} is not ${datasourceUid}`);
    for (const a of d.annotations?.list ?? []) if (!a.builtIn && a.datasource?.uid !== datasourceUid) problems.push(`/annotations/${a.name}: datasource uid ${a.datasource?.uid} is not ${datasourceUid}`);
    return problems;
  };
}

function describe(e: ErrorObject, at: string): string {
  const extra = e.keyword === 'additionalProperties' ? ` ("${String((e.params as { additionalProperty: string }).additionalProperty)}")` : e.keyword === 'enum' ? ` (${JSON.stringify((e.params as { allowedValues: unknown }).allowedValues)})` : '';
  return `${at}${e.instancePath} ${e.message ?? 'is invalid'}${extra}`;
}

/** What Grafana's InfluxDB data source does to a variable's values before they go into InfluxQL. */
export function formatVariable(values: readonly string[], v: Pick<VariableJson, 'multi' | 'includeAll'>): string {
  const escape = (s: string): string => s.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
  if (!v.multi && !v.includeAll) return values[0] ?? '';
  return values.length === 1 ? escape(values[0]!) : `(${values.map(escape).join('|')})`;
}

export interface QueryContext {
  /** Variable name → the value to substitute, already formatted. */
  readonly variables: ReadonlyMap<string, string>;
  /** The dashboard's time range, as Grafana's relative syntax (`now-6h`). */
  readonly from: string;
  readonly intervalMs: number;
}

/** Fills in Grafana's macros and the template variables; throws on anything left over. */
export function interpolate(query: string, ctx: QueryContext): string {
  const range = /^now-(\d+[smhdw])$/.exec(ctx.from);
  if (!range) throw new Error(`time.from ${ctx.from}: expected now-<n><unit>`);
  const interval = `${Math.round(ctx.intervalMs / 1000)}s`;
  const builtins: Record<string, string> = {
    timeFilter: `time >= now() - ${range[1]}`,
    __interval: interval,
    interval,
    __interval_ms: String(ctx.intervalMs),
  };
  const out = query.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (match, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c)!;
    const value = builtins[name] ?? ctx.variables.get(name);
    if (value === undefined) throw new Error(`unknown variable or macro ${match} in: ${query}`);
    return value;
  });
  return out;
}
