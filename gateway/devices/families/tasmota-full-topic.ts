/**
 * A Tasmota's FullTopic (`%prefix%/%topic%/` by default): how its topics are read, and what its own
 * word (a `tele`/`stat` message, its discovery config) teaches of where its commands go. Tasmota
 * puts into it its prefix, its topic, its hostname (`%hostname%`) and the MAC of its network
 * interface without the colons (`%id%`, `A0B765F3C1E2`): arendst/Tasmota GetTopic_P
 * (xdrv_02_9_mqtt.ino). The gateway reads `%hostname%` and `%id%` as any one level, and learns their
 * values (from a message under the template, or the config's `hn` and `mac`) for the commands.
 */
import { own, type JsonObject } from '../normalise.js';
import type { DecodeOptions, Learnt, TasmotaOptions } from '../types.js';

export const DEFAULT_FULL_TOPIC = '%prefix%/%topic%/';

export type Prefix = 'cmnd' | 'stat' | 'tele';
export interface TopicParts {
  prefix: Prefix;
  topic: string;
  suffix: string;
}
/** What a topic said of the device's hostname and id, where its template has them. */
export interface TopicValues {
  hostname?: string;
  id?: string;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function prefixWords(opts: TasmotaOptions | undefined): Record<Prefix, string> {
  return { cmnd: opts?.prefixes?.cmnd ?? 'cmnd', stat: opts?.prefixes?.stat ?? 'stat', tele: opts?.prefixes?.tele ?? 'tele' };
}

const compiled = new Map<string, RegExp>();

/** A FullTopic template as a regular expression with `prefix`, `topic`, `hostname`, `id` and `suffix` groups. */
function fullTopicRegex(template: string, words: Record<Prefix, string>): RegExp {
  const cacheKey = `${template}\u0000${words.cmnd}\u0000${words.stat}\u0000${words.tele}`;
  const hit = compiled.get(cacheKey);
  if (hit) return hit;
  const t = template.endsWith('/') ? template : `${template}/`;
  const prefixAlt = [words.cmnd, words.stat, words.tele].map(escape).join('|');
  let src = '';
  // A placeholder again is the same word again (a backreference): two groups of one name do not compile.
  const named = new Set<string>();
  const group = (name: string, body: string): string => (named.has(name) ? `\\k<${name}>` : (named.add(name), `(?<${name}>${body})`));
  for (const piece of t.split(/(%prefix%|%topic%|%hostname%|%id%)/)) {
    if (piece === '%prefix%') src += group('prefix', prefixAlt);
    else if (piece === '%topic%' || piece === '%hostname%' || piece === '%id%') src += group(piece.slice(1, -1), '[^/]+');
    else src += escape(piece);
  }
  const re = new RegExp(`^${src}(?<suffix>[^/]+)$`);
  if (compiled.size < 64) compiled.set(cacheKey, re);
  return re;
}

export function parseTopic(topic: string, opts?: TasmotaOptions): TopicParts | null {
  return matchTopic(topic, opts)?.parts ?? null;
}

/** The topic's parts and the template (of the map's, in order) that read it, with the hostname and id it holds. */
export function matchTopic(topic: string, opts: TasmotaOptions | undefined): { parts: TopicParts; template: string; values: TopicValues } | undefined {
  const words = prefixWords(opts);
  for (const template of opts?.fullTopics ?? [DEFAULT_FULL_TOPIC]) {
    if (!template.includes('%prefix%') || !template.includes('%topic%')) continue;
    const m = fullTopicRegex(template, words).exec(topic);
    const g = m?.groups;
    if (!g || g['topic'] === undefined || g['suffix'] === undefined || g['prefix'] === undefined) continue;
    const prefix = (Object.keys(words) as Prefix[]).find((p) => words[p] === g['prefix']);
    if (prefix) return { parts: { prefix, topic: g['topic'], suffix: g['suffix'] }, template, values: valuesOf(g['hostname'], g['id']) };
  }
  return undefined;
}

const valuesOf = (hostname: string | undefined, id: string | undefined): TopicValues => ({ ...(hostname === undefined ? {} : { hostname }), ...(id === undefined ? {} : { id }) });

type Layout = Extract<Learnt, { what: 'tasmotaLayout' }>;

/**
 * The FullTopic, prefixes, hostname and id a device's own word says it uses, as a fact for its
 * commands (encode), when it is news: not what was learnt of it already, nor (nothing learnt) the
 * map's first template without a hostname or id, which its commands use anyway (so a map of one
 * such template learns nothing of its devices).
 */
export function layoutOf(topic: string, fullTopic: string, prefixes: Layout['prefixes'], opts: DecodeOptions, values: TopicValues = {}): Layout | undefined {
  const known = opts.learnt?.tasmotaLayout(topic);
  const [was, wasPrefixes] = known ? [known.fullTopic, known.prefixes] : [opts.tasmota?.fullTopics?.[0] ?? DEFAULT_FULL_TOPIC, prefixWords(opts.tasmota)];
  const same = was === fullTopic && wasPrefixes.cmnd === prefixes.cmnd && wasPrefixes.stat === prefixes.stat && wasPrefixes.tele === prefixes.tele;
  if (same && known?.hostname === values.hostname && known?.id === values.id) return undefined;
  return { what: 'tasmotaLayout', topic, fullTopic, prefixes, ...values };
}

/** A word Tasmota may put for a placeholder: one level, no wildcard. */
const word = (w: unknown): w is string => typeof w === 'string' && w !== '' && w.length <= 64 && !/[/+#\u0000]/.test(w);

/**
 * The FullTopic and prefixes a discovery config announces (`ft`, `tp`), with its hostname (`hn`)
 * and id (`mac`) where `ft` has them: what its commands follow, and a hint for its dead letters
 * when the map's templates would not read them.
 */
export function announcedLayout(config: JsonObject, topic: string, options: DecodeOptions): Learnt[] {
  const opts = options.tasmota;
  const ft = own(config, 'ft');
  const tp = own(config, 'tp');
  // A wildcard is no topic: commands under it could not be published (the map refuses one too, map-parts.ts).
  if (typeof ft !== 'string' || !ft.includes('%prefix%') || !ft.includes('%topic%') || ft.length > 128 || /[+#\u0000]/.test(ft)) return [];
  const [cmnd, stat, tele] = Array.isArray(tp) && tp.length === 3 && tp.every((w) => typeof w === 'string' && w !== '' && !/[/+#\u0000]/.test(w)) ? (tp as string[]) : ['cmnd', 'stat', 'tele'];
  const prefixes = { cmnd: cmnd!, stat: stat!, tele: tele! };
  const hn = own(config, 'hn');
  const mac = own(config, 'mac');
  const values = valuesOf(ft.includes('%hostname%') && word(hn) ? hn : undefined, ft.includes('%id%') && word(mac) ? mac : undefined);
  const words = prefixWords(opts);
  // Its STATE's topic.
  const full = fill(ft, prefixes.tele, topic, values).replace(/%(hostname|id)%/g, 'x');
  const layout = layoutOf(topic, ft, prefixes, options, values);
  const facts: Learnt[] = layout ? [layout] : [];
  // Read as the map says already (the default, or a template it lists): nothing to hint.
  if (parseTopic(`${full}STATE`, opts)?.topic === topic && words.tele === prefixes.tele) return facts;
  return [...facts, { what: 'tasmotaFullTopic', topic, fullTopic: ft, prefixes }];
}

/** The template with its placeholders put (those whose value is not known stay), ending in `/`. */
export function fill(template: string, prefix: string, topic: string, values: TopicValues): string {
  let full = (template.endsWith('/') ? template : `${template}/`).replaceAll('%prefix%', prefix).replaceAll('%topic%', topic);
  if (values.hostname !== undefined) full = full.replaceAll('%hostname%', values.hostname);
  if (values.id !== undefined) full = full.replaceAll('%id%', values.id);
  return full;
}
