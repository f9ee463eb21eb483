/**
 * The FullTopic each Tasmota announced in its discovery config (`t`, `ft`, `tp`), when it is not
 * one the device map accepts: such a device's `tele/…` and `stat/…` are dead letters the gateway
 * cannot read, and their reason names the setting that reads them. Only a hint: the map's
 * `tasmota: { fullTopics }` is what decodes; commands follow each device's own template (learnt.ts
 * `tasmotaLayout`), else the map's first.
 */
import type { BoundedMap } from '../core/bounded-map.js';
import { parseTopic } from './families/tasmota.js';
import type { TasmotaOptions } from './types.js';

export interface AnnouncedTopic {
  readonly fullTopic: string;
  readonly prefixes: { readonly cmnd: string; readonly stat: string; readonly tele: string };
}

/** Distinct templates looked at per unknown topic: a handful in any building. */
const MAX_TEMPLATES = 16;

export class AnnouncedFullTopics {
  /** Template (FullTopic and prefixes) → how to read it, in the order first announced; the newest MAX_TEMPLATES. */
  private readonly templates = new Map<string, TasmotaOptions>();

  /** `byTopic`: the device's announced template by its topic `t` (bounded by the caller). */
  constructor(private readonly byTopic: BoundedMap<string, AnnouncedTopic>) {}

  set(topic: string, a: AnnouncedTopic): void {
    this.byTopic.set(topic, a);
    const key = JSON.stringify(a);
    if (this.templates.has(key)) return;
    // Full: the template announced longest ago goes (a client announcing made-up ones must not keep a real device's hint out for good).
    if (this.templates.size >= MAX_TEMPLATES) this.templates.delete(this.templates.keys().next().value!);
    this.templates.set(key, { fullTopics: [a.fullTopic], prefixes: a.prefixes });
  }

  /** The Tasmota whose announced FullTopic `topic` follows, if one did. */
  find(topic: string): { readonly nativeId: string; readonly fullTopic: string } | undefined {
    for (const [key, options] of this.templates) {
      const parts = parseTopic(topic, options);
      const announced = parts ? this.byTopic.get(parts.topic) : undefined;
      if (parts && announced && JSON.stringify(announced) === key) return { nativeId: parts.topic, fullTopic: announced.fullTopic };
    }
    return undefined;
  }
}
