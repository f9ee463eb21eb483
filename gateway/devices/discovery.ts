/**
 * What Home Assistant discovery configs taught the gateway: the entities by config topic, indexed
 * by the topics they read (state, availability), and ESPHome kinds learnt from the configs ESPHome
 * nodes announce (`device_class: temperature` for `f1-node/sensor/t/state`).
 */
import type { DiscoveredEntity } from './families/homeassistant.js';
import type { ContractKind } from './types.js';

const ESPHOME_STATE = /^(.+)\/(sensor|binary_sensor)\/([^/]+)\/state$/;
const MAX_ENTITIES = 20_000;

export class Discovery {
  private readonly byConfig = new Map<string, DiscoveredEntity>();
  private byTopic = new Map<string, DiscoveredEntity[]>();
  private kinds: Record<string, Record<string, ContractKind>> = {};
  /** Bumped on every change, so caches built on what was discovered know to start again. */
  version = 0;

  get size(): number {
    return this.byConfig.size;
  }

  /** Learns (or replaces) an entity; false when it is the same as before. */
  learn(entity: DiscoveredEntity): boolean {
    const before = this.byConfig.get(entity.configTopic);
    if (before && sameEntity(before, entity)) return false;
    if (!before && this.byConfig.size >= MAX_ENTITIES) return false;
    this.byConfig.set(entity.configTopic, entity);
    this.rebuild();
    return true;
  }

  forget(configTopic: string): DiscoveredEntity | undefined {
    const e = this.byConfig.get(configTopic);
    if (e) {
      this.byConfig.delete(configTopic);
      this.rebuild();
    }
    return e;
  }

  /** The entities that read (state or availability) this topic. */
  readers(topic: string): readonly DiscoveredEntity[] {
    return this.byTopic.get(topic) ?? [];
  }

  entities(): IterableIterator<DiscoveredEntity> {
    return this.byConfig.values();
  }

  /** `{ node: { 'sensor/<object id>': kind } }` for the decoders' `esphomeKinds`. */
  esphomeKinds(): Readonly<Record<string, Readonly<Record<string, ContractKind>>>> {
    return this.kinds;
  }

  private rebuild(): void {
    this.version++;
    const byTopic = new Map<string, DiscoveredEntity[]>();
    const kinds: Record<string, Record<string, ContractKind>> = Object.create(null) as Record<string, Record<string, ContractKind>>;
    const add = (topic: string | undefined, e: DiscoveredEntity): void => {
      if (topic === undefined) return;
      const list = byTopic.get(topic) ?? [];
      if (!list.includes(e)) list.push(e);
      byTopic.set(topic, list);
    };
    for (const e of this.byConfig.values()) {
      add(e.state?.topic, e);
      add(e.climate?.mode?.topic, e);
      add(e.climate?.setpoint?.topic, e);
      add(e.climate?.current?.topic, e);
      for (const a of e.availability) add(a.topic, e);
      const m = e.state ? ESPHOME_STATE.exec(e.state.topic) : null;
      if (m?.[1] && m[2] && m[3] && e.kind !== null) (kinds[m[1]] ??= Object.create(null) as Record<string, ContractKind>)[`${m[2]}/${m[3]}`] = e.kind;
    }
    this.byTopic = byTopic;
    this.kinds = kinds;
  }
}

function sameEntity(a: DiscoveredEntity, b: DiscoveredEntity): boolean {
  const strip = (e: DiscoveredEntity) => JSON.stringify(e, (k, v: unknown) => (k === 'extract' ? undefined : v));
  return strip(a) === strip(b);
}
