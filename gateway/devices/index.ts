/**
 * The decoders' one entry point: `decode(family, …)` for a family known from the device map or the
 * credential, `decodeAny` to try the families in an order that keeps their topic shapes apart, and
 * `encode` for a native command. All pure; none throws.
 */
import { decode as esphome, encode as esphomeEncode } from './families/esphome.js';
import { decode as generic, type CompiledMapping } from './families/generic.js';
import { decode as homeassistant, decodeState as haState, type DiscoveredEntity } from './families/homeassistant.js';
import { decode as shelly, encode as shellyEncode } from './families/shelly.js';
import { decode as tasmota, encode as tasmotaEncode } from './families/tasmota.js';
import { decode as zigbee2mqtt, encode as zigbee2mqttEncode } from './families/zigbee2mqtt.js';
import type { DecodeOptions, DecodeResult, EncodeOptions, EncodeResult, Family, NativeCommand } from './types.js';

export * from './types.js';

export interface Context extends DecodeOptions {
  /** Entities learnt from Home Assistant discovery configs (their state topics become readable). */
  discovered?: readonly DiscoveredEntity[];
  /** Compiled generic mappings. */
  mappings?: readonly CompiledMapping[];
}

const FAILSAFE = (family: Family, e: unknown): DecodeResult => ({ outcome: 'failure', family, detail: `${family}: decoder error: ${e instanceof Error ? e.message : String(e)}` });

/** One family's decoder. A decoder bug is reported as a failure, never thrown. */
export function decode(family: Family, topic: string, payload: Buffer, ctx: Context = {}): DecodeResult {
  try {
    switch (family) {
      case 'zigbee2mqtt':
        return zigbee2mqtt(topic, payload, ctx);
      case 'tasmota':
        return tasmota(topic, payload, ctx);
      case 'shelly':
        return shelly(topic, payload, ctx);
      case 'esphome':
        return esphome(topic, payload, ctx);
      case 'homeassistant': {
        const own = homeassistant(topic, payload, ctx);
        return own.outcome === 'not_mine' && ctx.discovered ? haState(ctx.discovered, topic, payload) : own;
      }
      case 'generic':
        return generic(ctx.mappings ?? [], topic, payload);
    }
  } catch (e) {
    return FAILSAFE(family, e);
  }
}

/**
 * Tries the families in turn: those anchored on a configured prefix first (Zigbee2MQTT base topic,
 * discovery configs under the discovery prefix, Tasmota prefixes), then the suffix-shaped ones
 * (ESPHome `<node>/<component>/<id>/state`, Shelly `shellies/…` and Gen2 `<prefix>/status/<component>`),
 * then the state topics learnt from discovery configs, then the generic mappings. The first family
 * that recognises the topic answers: a device's own decoder wins over what a discovery config says.
 */
export function decodeAny(topic: string, payload: Buffer, ctx: Context = {}): DecodeResult {
  if (isContractTopic(topic)) return { outcome: 'not_mine' };
  const configsOnly: Context = { ...ctx, discovered: undefined };
  for (const family of ['zigbee2mqtt', 'homeassistant', 'tasmota', 'esphome', 'shelly'] as const) {
    const r = decode(family, topic, payload, configsOnly);
    if (r.outcome !== 'not_mine') return r;
  }
  if (ctx.discovered) {
    const discovered = ctx.discovered;
    const r = guard('homeassistant', () => haState(discovered, topic, payload));
    if (r.outcome !== 'not_mine') return r;
  }
  return decode('generic', topic, payload, ctx);
}

/** The contract's own topics (and the broker's) are never a native device's, whatever their shape. */
const CONTRACT_ROOTS = new Set(['sensors', 'devices', 'commands', 'alerts', 'gateway', 'zones']);

export function isContractTopic(topic: string): boolean {
  const root = topic.split('/', 1)[0] ?? '';
  return CONTRACT_ROOTS.has(root) || topic.startsWith('$');
}

function guard(family: Family, f: () => DecodeResult): DecodeResult {
  try {
    return f();
  } catch (e) {
    return FAILSAFE(family, e);
  }
}

/** The device's own command for a family (a Home Assistant entity: `encode` in ./families/homeassistant.ts). */
export function encode(family: Exclude<Family, 'homeassistant' | 'generic'>, nativeId: string, channel: string | undefined, command: NativeCommand, options: EncodeOptions = {}): EncodeResult {
  try {
    switch (family) {
      case 'zigbee2mqtt':
        return zigbee2mqttEncode(nativeId, channel, command, options);
      case 'tasmota':
        return tasmotaEncode(nativeId, channel, command, options);
      case 'shelly':
        return shellyEncode(nativeId, channel, command, options);
      case 'esphome':
        return esphomeEncode(nativeId, channel, command);
    }
  } catch (e) {
    return { ok: false, reason: `${family}: encoder error: ${e instanceof Error ? e.message : String(e)}` };
  }
}
