/**
 * The shapes a dashboard file is checked against: Grafana's own types from @grafana/schema
 * (pinned to the Grafana image in docker-compose.yml), turned into JSON Schema by
 * ts-json-schema-generator in test/helpers/grafana-schema.ts. Panel options are Partial because
 * Grafana fills in what a file leaves out; what a file does say must be right.
 */
import type { AnnotationQuery, DataSourceRef, Dashboard, Panel, RowPanel } from '@grafana/schema';
import type { Options as BarGaugeOptions } from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen';
import type { FieldConfig as PieChartFieldConfig, Options as PieChartOptions } from '@grafana/schema/dist/esm/raw/composable/piechart/panelcfg/x/PieChartPanelCfg_types.gen';
import type { Options as StatOptions } from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type { FieldConfig as StateTimelineFieldConfig, Options as StateTimelineOptions } from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';
import type { FieldConfig as TableFieldConfig, Options as TableOptions } from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type { FieldConfig as TimeSeriesFieldConfig, Options as TimeSeriesOptions } from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

/**
 * Grafana's dashboard (schema v1, what file provisioning loads), with this project's rule on
 * top: every query is raw InfluxQL (Grafana's own types leave targets open).
 */
export type GrafanaDashboard = Omit<Dashboard, 'panels' | 'annotations'> & {
  panels?: (InfluxPanel | RowPanel)[];
  annotations?: { list?: InfluxAnnotation[] };
};
export type InfluxPanel = Omit<Panel, 'targets'> & { targets?: InfluxQLTarget[] };
export type InfluxAnnotation = Omit<AnnotationQuery, 'target'> & { target?: InfluxQLAnnotationTarget };

export type BarGaugePanelOptions = Partial<BarGaugeOptions>;
/** Bar gauges and stats have no custom field options. */
export type BarGaugePanelFieldConfig = Record<string, never>;
export type PieChartPanelOptions = Partial<PieChartOptions>;
export type PieChartPanelFieldConfig = Partial<PieChartFieldConfig>;
export type StatPanelOptions = Partial<StatOptions>;
export type StatPanelFieldConfig = Record<string, never>;
export type StateTimelinePanelOptions = Partial<StateTimelineOptions>;
export type StateTimelinePanelFieldConfig = Partial<StateTimelineFieldConfig>;
export type TablePanelOptions = Partial<TableOptions>;
export type TablePanelFieldConfig = Partial<TableFieldConfig>;
export type TimeSeriesPanelOptions = Partial<TimeSeriesOptions>;
export type TimeSeriesPanelFieldConfig = Partial<TimeSeriesFieldConfig>;

/** A raw InfluxQL query, as Grafana's InfluxDB data source stores it (its `InfluxQuery` in raw mode). */
export interface InfluxQLTarget {
  refId: string;
  datasource?: DataSourceRef;
  query: string;
  rawQuery: true;
  resultFormat?: 'time_series' | 'table' | 'logs';
  alias?: string;
  hide?: boolean;
}

/** An InfluxQL annotation query (what the data source's annotation editor saves). */
export interface InfluxQLAnnotationTarget extends InfluxQLTarget {
  fromAnnotations: true;
  textEditor?: boolean;
  textColumn?: string;
  tagsColumn?: string;
  titleColumn?: string;
  timeEndColumn?: string;
}
