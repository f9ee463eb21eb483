/**
 * Who may talk, for native devices (README "Who may talk"):
 *
 * - `bridge`: one client publishing for many devices (Zigbee2MQTT): publishes and subscribes
 *   under its base topic (`zigbee2mqtt/#` by default) and the discovery prefix;
 * - `native`: one native device (`tasmota:<topic>`, `shelly:<id or prefix>`, `esphome:<node>`):
 *   publishes its own native topics (and discovery configs under its own node id), subscribes to
 *   its own command topics.
 *
 * Their client ids are not bound to the credential: firmware picks its own (Tasmota `DVES_…`).
 */
import type { Decision, Principal } from './acl.js';
import { tasmotaClash, tasmotaScopes } from './tasmota-acl.js';

/** Topic roots a bridge's base may not be: the contract's and the broker's. */
export const RESERVED_BASES = new Set(['sensors', 'devices', 'commands', 'alerts', 'gateway', 'zones']);
/** Families a `native` credential can name (the others have no fixed topics of their own: give them a bridge). */
export const NATIVE_FAMILIES = ['tasmota', 'shelly', 'esphome'] as const;
/** Shelly Gen2+ answers an RPC on `<src>/rpc`; the gateway sends `src: iot-gateway`. */
const RPC_REPLY = 'iot-gateway/rpc';

const ALLOW: Decision = { ok: true };
const deny = (why: string): Decision => ({ ok: false, why });

/** True when the topic or filter (`+`/`#` allowed) lies within `scope` (`#` at its end only). */
function within(topicOrFilter: string, scope: string): boolean {
  const t = topicOrFilter.split('/');
  const s = scope.split('/');
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '#') return t.length > i && t.slice(i).every((x, j) => x !== '#' || i + j === t.length - 1);
    const ti = t[i];
    if (ti === undefined || ti === '#') return false;
    if (s[i] === '+') continue;
    if (ti === '+' || ti !== s[i]) return false;
  }
  return t.length === s.length;
}

function bridgeBase(p: Principal): string {
  return p.base ?? p.zigbee2mqttBase ?? 'zigbee2mqtt';
}

function nativeParts(p: Principal): { family: string; id: string } {
  const colon = (p.native ?? '').indexOf(':');
  return { family: (p.native ?? '').slice(0, colon), id: (p.native ?? '').slice(colon + 1) };
}

/** Topics a native device publishes (`publish`) or listens to (`subscribe`) beside its own FullTopic's (Tasmota: tasmota-acl.ts), as MQTT filters. */
function extraScopes(p: Principal, what: 'publish' | 'subscribe'): string[] {
  const discovery = p.discoveryPrefix ?? 'homeassistant';
  if (p.role === 'bridge') return [`${bridgeBase(p)}/#`, `${discovery}/#`];
  const { family, id } = nativeParts(p);
  const ownConfigs = `${discovery}/+/${id}/+/config`;
  switch (family) {
    case 'tasmota':
      return what === 'publish' ? ['tasmota/discovery/#', ownConfigs] : [`${discovery}/status`];
    case 'shelly':
      return what === 'publish' ? [`shellies/${id}/#`, 'shellies/announce', `${id}/#`, RPC_REPLY, ownConfigs] : [`shellies/${id}/#`, 'shellies/command', `${id}/#`];
    case 'esphome':
      return what === 'publish' ? [`${id}/#`, 'esphome/discover/#', ownConfigs] : [`${id}/#`, `${discovery}/status`, 'esphome/discover/#'];
    default:
      return [];
  }
}

/** A Tasmota's topics under the FullTopic templates in force (the device map's, read now). */
function fullTopicScopes(p: Principal, what: 'publish' | 'subscribe'): string[] {
  const { family, id } = nativeParts(p);
  return p.role === 'native' && family === 'tasmota' ? tasmotaScopes(id, p.tasmota?.(), what) : [];
}

/** Whether the topic or filter is allowed: within an extra scope, or within its FullTopic's and no template reads it as another device's. */
function decide(p: Principal, topicOrFilter: string, what: 'publish' | 'subscribe'): { ok: boolean; why?: string; allowed: string[] } {
  const extras = extraScopes(p, what);
  const own = fullTopicScopes(p, what);
  const allowed = [...own, ...extras];
  if (extras.some((s) => within(topicOrFilter, s))) return { ok: true, allowed };
  if (!own.some((s) => within(topicOrFilter, s))) return { ok: false, allowed };
  const clash = tasmotaClash(nativeParts(p).id, topicOrFilter, p.tasmota?.(), what);
  return clash === undefined ? { ok: true, allowed } : { ok: false, why: clash, allowed };
}

export function nativeCanPublish(p: Principal, topic: string): Decision {
  const { ok, why, allowed } = decide(p, topic, 'publish');
  if (ok) return ALLOW;
  if (why !== undefined) return deny(`native device ${p.native ?? ''}: ${why}`);
  return deny(`${p.role === 'bridge' ? `bridge ${p.name}` : `native device ${p.native ?? ''}`} publishes only ${allowed.join(', ')}`);
}

export function nativeCanSubscribe(p: Principal, filter: string): Decision {
  const { ok, why, allowed } = decide(p, filter, 'subscribe');
  if (ok) return ALLOW;
  if (why !== undefined) return deny(`native device ${p.native ?? ''}: ${why}`);
  // Tasmota also listens on its fallback topic, named after its client id (`cmnd/DVES_ABC123_fb/#`).
  if (p.role === 'native' && nativeParts(p).family === 'tasmota' && /^cmnd\/[^/+#]+_fb\/#$/.test(filter)) return ALLOW;
  return deny(`${p.role === 'bridge' ? `bridge ${p.name}` : `native device ${p.native ?? ''}`} subscribes only within ${allowed.join(', ')}`);
}

/** What ingest should try first for this client's messages (gateway/devices/router.ts). */
export function nativeHintOf(p: Principal | undefined): { family?: string; nativeId?: string; base?: string } | undefined {
  if (!p) return undefined;
  if (p.role === 'bridge') return { family: p.family ?? 'zigbee2mqtt', base: bridgeBase(p) };
  if (p.role === 'native') {
    const { family, id } = nativeParts(p);
    return { family, nativeId: id };
  }
  return undefined;
}
