/** /metrics read back through a Prometheus text-format parser (not regexes). */
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';

export interface Scrape {
  readonly families: ReadonlyMap<string, PromFamily>;
  /** The sample's value (a histogram's count), summed over the samples whose labels include `labels`. */
  value(name: string, labels?: Readonly<Record<string, string>>): number;
}

export async function scrape(httpUrl: string): Promise<Scrape> {
  const res = await fetch(`${httpUrl}/metrics`);
  if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`);
  if (!res.headers.get('content-type')?.startsWith('text/plain')) throw new Error(`/metrics: content-type ${res.headers.get('content-type')}`);
  const families = new Map(parsePrometheusTextFormat(await res.text()).map((f) => [f.name, f]));
  return {
    families,
    value(name, labels = {}) {
      const family = families.get(name);
      if (!family) throw new Error(`/metrics has no ${name}`);
      return family.metrics
        .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
        .reduce((sum, m) => sum + Number(family.type === 'HISTOGRAM' ? m.count : m.value), 0);
    },
  };
}
