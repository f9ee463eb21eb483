/**
 * A `native` Tasmota credential's own topics follow the device map's FullTopic templates (README
 * "Who may talk"): every template the map accepts (`tasmota: { fullTopics }`, with its
 * `prefixes`) and the two Tasmota ships with (`%prefix%/%topic%/`, `%topic%/%prefix%/`), the
 * credential's topic put for %topic%. The map in force is read at each check, so a reload is
 * followed at once (delivery checks each message against the subscriber's role again, delivery.ts).
 *
 * One device may never speak or listen as another: its topic must be one level, a template is
 * used only when %prefix% and %topic% are whole levels and it holds no wildcard, and a topic
 * (or filter) that any template reads as another device's, or as a command, is refused.
 */
/** The device map's `tasmota:` section as far as topics go (devices/types.ts TasmotaOptions). */
export interface TasmotaOptions {
  readonly fullTopics?: readonly string[];
  readonly prefixes?: { readonly cmnd?: string; readonly stat?: string; readonly tele?: string };
}

type Words = { readonly cmnd: string; readonly stat: string; readonly tele: string };

const DEFAULT_WORDS: Words = { cmnd: 'cmnd', stat: 'stat', tele: 'tele' };
const BUILT_IN = ['%prefix%/%topic%/', '%topic%/%prefix%/'];
/** Tasmota's default GroupTopic: it listens to `cmnd/tasmotas/…` under its FullTopic. */
const GROUP = 'tasmotas';
const PLACEHOLDER = /^%(prefix|topic|hostname|id)%$/;
/** Not a single topic level, or a wildcard (no topic or prefix word may be one). */
const NOT_A_LEVEL = /[/+#\u0000]|^$/;

interface Layout {
  readonly template: string;
  readonly words: Words;
}

/** The templates (with their prefix words) in force: the built-in ones and the map's. */
function layouts(opts: TasmotaOptions | undefined): Layout[] {
  const p = opts?.prefixes;
  const words: Words = { cmnd: p?.cmnd ?? 'cmnd', stat: p?.stat ?? 'stat', tele: p?.tele ?? 'tele' };
  const listed = Array.isArray(opts?.fullTopics) ? opts.fullTopics.filter((t): t is string => typeof t === 'string') : [];
  return [...BUILT_IN.map((template) => ({ template, words: DEFAULT_WORDS })), ...listed.map((template) => ({ template, words }))];
}

/** A template's levels when it can bind a credential to its own topic, else undefined. */
function levelsOf({ template, words }: Layout): string[] | undefined {
  if (/[+#\u0000]/.test(template) || Object.values(words).some((w) => NOT_A_LEVEL.test(w))) return undefined;
  const levels = (template.endsWith('/') ? template.slice(0, -1) : template).split('/');
  const count = (x: string): number => levels.filter((l) => l === x).length;
  if (count('%prefix%') !== 1 || count('%topic%') !== 1) return undefined;
  // %hostname% and %id% are whole levels too (any one to the ACL); any other `%` is text the ACL cannot read.
  return levels.every((l) => PLACEHOLDER.test(l) || !l.includes('%')) ? levels : undefined;
}

/** True when `id` can be a Tasmota topic the ACL binds: one level, no wildcard. */
function tasmotaTopicOk(id: string): boolean {
  return !NOT_A_LEVEL.test(id);
}

/** The filters of this device's own topics: what it publishes (`tele`, `stat`) or listens to (`cmnd`, and its group's). */
export function tasmotaScopes(id: string, opts: TasmotaOptions | undefined, what: 'publish' | 'subscribe'): string[] {
  if (!tasmotaTopicOk(id)) return [];
  const out = new Set<string>();
  for (const layout of layouts(opts)) {
    const levels = levelsOf(layout);
    if (!levels) continue;
    const pairs: [string, string][] = what === 'publish' ? [[layout.words.tele, id], [layout.words.stat, id]] : [[layout.words.cmnd, id], [layout.words.cmnd, GROUP]];
    for (const [word, topic] of pairs) out.add(`${levels.map((l) => (l === '%prefix%' ? word : l === '%topic%' ? topic : l === '%hostname%' || l === '%id%' ? '+' : l)).join('/')}/#`);
  }
  return [...out];
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const readers = new Map<string, RegExp>();

/** A template (any the map accepts, whole levels or not) as a reader of topics at any depth below it. */
function readerOf({ template, words }: Layout): RegExp {
  const key = `${template}\u0000${words.cmnd}\u0000${words.stat}\u0000${words.tele}`;
  const hit = readers.get(key);
  if (hit) return hit;
  const t = template.endsWith('/') ? template : `${template}/`;
  let src = '';
  let named = { prefix: false, topic: false };
  for (const piece of t.split(/(%prefix%|%topic%|%hostname%|%id%)/)) {
    if (piece === '%prefix%') src += named.prefix ? `(?:${[words.cmnd, words.stat, words.tele].map(escape).join('|')})` : `(?<prefix>${[words.cmnd, words.stat, words.tele].map(escape).join('|')})`;
    else if (piece === '%topic%') src += named.topic ? '[^/]+' : '(?<topic>[^/]+)';
    else if (piece === '%hostname%' || piece === '%id%') src += '[^/]+';
    else src += escape(piece);
    if (piece === '%prefix%') named = { ...named, prefix: true };
    if (piece === '%topic%') named = { ...named, topic: true };
  }
  const re = new RegExp(`^${src}.+$`);
  if (readers.size < 256) readers.set(key, re);
  return re;
}

/**
 * Why a topic or filter within this device's own scopes is still not its own: a template in
 * force reads it as another device's (or every device's: a wildcard for its topic), or, for a
 * publish, as a command. Undefined when none does.
 */
export function tasmotaClash(id: string, topicOrFilter: string, opts: TasmotaOptions | undefined, what: 'publish' | 'subscribe'): string | undefined {
  for (const layout of layouts(opts)) {
    const g = readerOf(layout).exec(topicOrFilter)?.groups;
    if (!g || g['topic'] === undefined || g['prefix'] === undefined) continue;
    const command = g['prefix'] === layout.words.cmnd;
    if (what === 'publish' && command) return `FullTopic ${layout.template} reads ${topicOrFilter} as a command to ${g['topic']}`;
    if (g['topic'] !== id && !(what === 'subscribe' && command && g['topic'] === GROUP)) return `FullTopic ${layout.template} reads ${topicOrFilter} as device ${g['topic']}'s`;
  }
  return undefined;
}
