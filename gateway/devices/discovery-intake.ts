/**
 * A Home Assistant discovery config taken in (router.ts): learnt into the table (discovery.ts),
 * removed, or refused with its reason noted on the device it names. What a client can make the
 * gateway hold is bounded: a config over CONFIG_CAPS is a bad payload (a dead letter), and the
 * table holds so many entities and bytes, each sender its share (`Sender`), so one credential's
 * configs cannot crowd out another's. Both refusals are counted in
 * gateway_memory_refusals_total{map} and said once per burst (GW_ERR_MEMORY_FULL).
 */
import { BoundedMap } from '../core/bounded-map.js';
import type { OnEvicted } from '../observability/evictions.js';
import { type Discovery, type Sender } from './discovery.js';
import { foreignConfig } from './discovery-speaker.js';
import { CONFIG_CAPS, parseDiscovery } from './families/homeassistant.js';
import type { NativeOutcome } from './outcome.js';
import { DeviceRegistry } from './registry.js';
import type { NativeHint, TasmotaOptions } from './types.js';

export interface IntakeOptions {
  readonly discovery: Discovery;
  readonly registry: DeviceRegistry;
  readonly discoveryPrefix: string;
  /** The device map's Tasmota options, read now. */
  readonly tasmota: () => TasmotaOptions | undefined;
  /** Told when what is learnt changed (the router forgets the families it remembered by topic). */
  readonly changed: () => void;
  /** Told of each config refused to bound memory. */
  readonly refused?: OnEvicted | undefined;
}

/** Whose share a config counts in: a native device's credential's, a bridge's; none for an admin or anonymous client. */
export function senderOf(hint: NativeHint | undefined): Sender | undefined {
  if (hint?.base !== undefined) return { key: `bridge\u0000${hint.family ?? ''}\u0000${hint.base}`, share: 'bridge' };
  if (hint?.family !== undefined && hint.nativeId) return { key: `native\u0000${hint.family}:${hint.nativeId}`, share: 'native' };
  return undefined;
}

const whoOf = (hint: NativeHint | undefined): string => (hint?.base !== undefined ? `bridge ${hint.family ?? ''} on ${hint.base}` : `${hint?.family ?? ''}:${hint?.nativeId ?? ''}`);

export class DiscoveryIntake {
  /** Refused discovery configs by topic → the device they named: its registry note goes when the config is removed. */
  private readonly refusedConfigs: BoundedMap<string, string>;

  constructor(private readonly o: IntakeOptions) {
    this.refusedConfigs = new BoundedMap(o.discovery.bounds.maxEntities);
  }

  learn(topic: string, payload: Buffer, now: number, hint: NativeHint | undefined, restored = false): NativeOutcome {
    const { discovery, registry } = this.o;
    const r = parseDiscovery(topic, payload, { discoveryPrefix: this.o.discoveryPrefix });
    if (r.outcome === 'removed') {
      const gone = discovery.forget(topic);
      if (gone) this.o.changed();
      // A refused config was never learnt: its note is found by the device it named.
      const nativeId = gone?.nativeId ?? this.refusedConfigs.get(topic);
      this.refusedConfigs.delete(topic);
      if (nativeId !== undefined) DeviceRegistry.undiscovered(registry.get('homeassistant', nativeId), topic);
      return { outcome: 'recognised', family: 'homeassistant', ...(nativeId === undefined ? {} : { nativeId }), what: 'discovery config removed' };
    }
    if (r.outcome === 'refused' && r.tooLarge) {
      const caps = `${CONFIG_CAPS.availability} availability entries, topics of ${CONFIG_CAPS.topicChars} characters, identifiers and payloads of ${CONFIG_CAPS.textChars}`;
      this.o.refused?.('discovery_config', CONFIG_CAPS.availability, `${topic}: ${r.reason}; a config may hold ${caps}`, 'refused a discovery config over what one config may hold: it is not learnt, and is a dead letter');
      const refused = this.refuse(topic, r.nativeId, r.reason, now, restored);
      return { ...refused, outcome: 'failure' };
    }
    if (r.outcome === 'refused') return this.refuse(topic, r.nativeId, r.reason, now, restored);
    const e = r.entity;
    // A credential bound to one device speaks for it only (discovery-speaker.ts): noted on that device, a dead letter.
    if (hint?.family !== undefined && hint.nativeId !== undefined) {
      const foreign = foreignConfig(e, { family: hint.family, nativeId: hint.nativeId }, discovery, this.o.discoveryPrefix, this.o.tasmota());
      if (foreign !== undefined) {
        DeviceRegistry.problem(registry[restored ? 'known' : 'seen'](hint.family, hint.nativeId, now), foreign);
        return { outcome: 'failure', family: 'homeassistant', detail: `homeassistant: ${foreign}` };
      }
    }
    const sender = senderOf(hint);
    const learnt = discovery.learn(e, sender);
    if (learnt === 'full' || learnt === 'share') {
      const bound = learnt === 'full' ? discovery.bounds : discovery.shareOf(sender!.share);
      const whose = learnt === 'full' ? 'the gateway holds the most discovered entities it keeps' : `the configs of credential ${whoOf(hint)} hold its share of the discovered entities`;
      const reason = `${whose} (${bound.maxEntities} entities, ${Math.round(bound.maxBytes / 1024)} KiB estimated) already: not learnt (an empty retained config removes one)`;
      this.o.refused?.('discovery', bound.maxEntities, `${topic}: ${reason}`);
      return this.refuse(topic, e.nativeId, reason, now, restored);
    }
    this.forgetRefused(topic, e.nativeId);
    if (learnt === 'learnt') this.o.changed();
    DeviceRegistry.discovered(registry[restored ? 'known' : 'seen']('homeassistant', e.nativeId, now), topic, { component: e.component, objectId: e.objectId, kind: e.kind });
    return { outcome: 'recognised', family: 'homeassistant', nativeId: e.nativeId, what: `discovery config (${e.component})` };
  }

  /** A refused config's topic now names another device (or was learnt): the note leaves the device it named before. */
  private forgetRefused(topic: string, nativeId: string): void {
    const before = this.refusedConfigs.get(topic);
    if (before === undefined) return;
    this.refusedConfigs.delete(topic);
    if (before !== nativeId) DeviceRegistry.undiscovered(this.o.registry.get('homeassistant', before), topic);
  }

  /** A discovery config the gateway cannot use: listed with its reason in the registry, and counted (not a dead letter). */
  private refuse(topic: string, nativeId: string | undefined, reason: string, now: number, restored: boolean): Extract<NativeOutcome, { outcome: 'refused' }> {
    if (nativeId !== undefined) {
      this.forgetRefused(topic, nativeId);
      this.refusedConfigs.set(topic, nativeId);
      const e = this.o.registry[restored ? 'known' : 'seen']('homeassistant', nativeId, now);
      DeviceRegistry.discovered(e, topic, { refused: reason });
      DeviceRegistry.problem(e, `${topic}: ${reason}`);
    }
    return { outcome: 'refused', family: 'homeassistant', ...(nativeId === undefined ? {} : { nativeId }), detail: `homeassistant${nativeId === undefined ? '' : `:${nativeId}`}: ${topic}: ${reason}` };
  }
}
