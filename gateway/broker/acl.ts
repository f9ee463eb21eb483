import type { TasmotaOptions } from './tasmota-acl.js';
import type { Credential, Role } from './credentials.js';
import { nativeCanPublish, nativeCanSubscribe } from './native-acl.js';

/**
 * Who may publish and subscribe to what, by role:
 *
 * - `device`: publishes only `sensors/<site>/<zone>/<device>/<kind>`, `devices/<device>/status`
 *   and `devices/<device>/state` (its own), subscribes only to `commands/<site>/<zone>/…` (its own
 *   site and zone);
 * - `actuator`: subscribes to `commands/…` (within its site and zone when the credential names
 *   them) and publishes its own `devices/<device>/status` and `devices/<device>/state` when it
 *   names a device;
 * - `observer`: subscribes to everything, publishes nothing;
 * - `admin`: everything else a client may do;
 * - `bridge` and `native`: native firmware (Zigbee2MQTT, Tasmota, Shelly, ESPHome): see native-acl.ts.
 *
 * Nobody but the gateway publishes `commands/`, `alerts/`, `gateway/` or `$…` topics: the gateway
 * publishes those through Aedes' own publish(), which does not pass this check.
 */

/** An authenticated client (or an anonymous one, when anonymous clients are allowed). */
export interface Principal {
  /** The username (`anonymous` for a client without one). */
  readonly name: string;
  readonly role: Role;
  readonly device?: string | undefined;
  readonly site?: string | undefined;
  readonly zone?: string | undefined;
  readonly anonymous: boolean;
  /** `bridge`: the family it speaks for (default zigbee2mqtt) and its base topic. */
  readonly family?: string | undefined;
  readonly base?: string | undefined;
  /** `native`: the one native device, `<family>:<native id>`. */
  readonly native?: string | undefined;
  /** Where bridges and native devices publish discovery configs, and Zigbee2MQTT's default base (settings). */
  readonly discoveryPrefix?: string | undefined;
  readonly zigbee2mqttBase?: string | undefined;
  /** The device map's Tasmota FullTopics in force, read at each check: a `native` Tasmota's topics follow them (tasmota-acl.ts). */
  readonly tasmota?: (() => TasmotaOptions | undefined) | undefined;
}

/** The settings a native principal's topics depend on. */
export interface NativeTopics {
  readonly discoveryPrefix: string;
  readonly zigbee2mqttBase: string;
  /** The device map in force's `tasmota:` section (undefined before the map is loaded). */
  readonly tasmota?: () => TasmotaOptions | undefined;
}

export function principalOf(credential: Credential, topics?: NativeTopics): Principal {
  const p: Principal = { name: credential.name, role: credential.role, device: credential.device, site: credential.site, zone: credential.zone, anonymous: false };
  if (credential.role !== 'bridge' && credential.role !== 'native') return p;
  return { ...p, family: credential.family, base: credential.base, native: credential.native, discoveryPrefix: topics?.discoveryPrefix, zigbee2mqttBase: topics?.zigbee2mqttBase, tasmota: topics?.tasmota };
}

export function anonymousPrincipal(role: Role): Principal {
  return { name: 'anonymous', role, anonymous: true };
}

/** Roots only the gateway publishes to. */
const RESERVED_ROOTS = new Set(['commands', 'alerts', 'gateway']);

export type Decision = { readonly ok: true } | { readonly ok: false; readonly why: string };

const ALLOW: Decision = { ok: true };
const deny = (why: string): Decision => ({ ok: false, why });
export const whyDenied = (d: Decision): string | undefined => (d.ok ? undefined : d.why);

export function canPublish(p: Principal, topic: string): Decision {
  const slash = topic.indexOf('/');
  const root = slash === -1 ? topic : topic.slice(0, slash);
  if (topic.startsWith('$')) return deny('$ topics are reserved for the broker');
  if (RESERVED_ROOTS.has(root)) return deny(`only the gateway publishes to ${root}/`);
  switch (p.role) {
    case 'admin':
      return ALLOW;
    case 'observer':
      return deny('an observer publishes nothing');
    case 'actuator':
      return p.device !== undefined && (topic === `devices/${p.device}/status` || topic === `devices/${p.device}/state`)
        ? ALLOW
        : deny(
            p.device !== undefined
              ? `an actuator publishes only devices/${p.device}/status and …/state`
              : `actuator ${p.name} names no device, so it may publish nothing: give its credential one (npm run credentials -- add ${p.name} --role actuator --device <its id> …) to report devices/<its id>/state`,
          );
    case 'bridge':
    case 'native':
      return nativeCanPublish(p, topic);
    case 'device': {
      if (topic === `devices/${p.device ?? ''}/status` || topic === `devices/${p.device ?? ''}/state`) return ALLOW;
      const own = `sensors/${p.site ?? ''}/${p.zone ?? ''}/${p.device ?? ''}/`;
      if (topic.startsWith(own) && topic.length > own.length && !topic.includes('/', own.length)) return ALLOW;
      return deny(`device ${p.device ?? ''} publishes only ${own}<kind> and devices/${p.device ?? ''}/status (and …/state)`);
    }
  }
}

export function canSubscribe(p: Principal, filter: string): Decision {
  switch (p.role) {
    case 'admin':
    case 'observer':
      return ALLOW;
    case 'actuator': {
      const scope = ['commands', ...(p.site ? [p.site] : []), ...(p.site && p.zone ? [p.zone] : []), '#'].join('/');
      return filterWithin(filter, scope) ? ALLOW : deny(`an actuator subscribes only within ${scope}`);
    }
    case 'bridge':
    case 'native':
      return nativeCanSubscribe(p, filter);
    case 'device': {
      const scope = `commands/${p.site ?? ''}/${p.zone ?? ''}/#`;
      return filterWithin(filter, scope) ? ALLOW : deny(`device ${p.device ?? ''} subscribes only within ${scope}`);
    }
  }
}

/**
 * True when every topic `filter` can match is also matched by `scope` (both MQTT topic
 * filters). `commands/hq/f1/+` is within `commands/hq/f1/#`; `commands/+/f1/hvac` is not within
 * `commands/hq/#`, since `+` would also match other sites.
 */
export function filterWithin(filter: string, scope: string): boolean {
  const f = filter.split('/');
  const s = scope.split('/');
  for (let i = 0; i < s.length; i++) {
    const sl = s[i];
    if (sl === '#') return true;
    const fl = f[i];
    if (fl === undefined) return false;
    if (fl === '#') return false;
    if (sl === '+') continue;
    if (fl === '+' || fl !== sl) return false;
  }
  return f.length === s.length;
}

/**
 * Client ids are identities: every credential's name and every device a credential names is a
 * reserved id. A credential connects as its device when it names one, else as its own name or
 * `<name>:<suffix>` (a second session of a service: `grafana:sub`; names and devices contain no
 * `:`, so a suffixed id never takes a reserved one). Nobody else, anonymous clients included,
 * may take a reserved id, nor `<name>:<suffix>` of another credential: connecting with a client
 * id in use disconnects its owner ([MQTT-3.1.4-2]), so a free reserved id would be a way to steal
 * a connection and its commands. Ids nobody reserves are held by whoever connected with them
 * first (client-ids.ts). `reservedBy` names the credential that reserves an id (undefined when none does).
 */
export function clientIdAllowed(p: Principal, clientId: string, reservedBy: (id: string) => string | undefined): Decision {
  const own = p.anonymous ? undefined : (p.device ?? p.name);
  if (clientId === own) return ALLOW;
  const owner = reservedBy(clientId);
  if (owner !== undefined && owner !== p.name) return deny(`client id ${JSON.stringify(clientId)} is reserved for credential ${JSON.stringify(owner)}`);
  // `<name>:<suffix>` is credential <name>'s (a second session of it), whoever else picks its own ids.
  const colon = clientId.indexOf(':');
  const prefixOwner = colon > 0 ? reservedBy(clientId.slice(0, colon)) : undefined;
  if (prefixOwner !== undefined && (p.anonymous || prefixOwner !== p.name)) return deny(`client id ${JSON.stringify(clientId)} is a session of credential ${JSON.stringify(prefixOwner)} (<name>:<suffix>)`);
  if (p.anonymous) return ALLOW;
  // Native firmware picks its own client id (Tasmota's DVES_XXXXXX, ESPHome's <node>-<mac>): any id nobody owns.
  if (p.role === 'bridge' || p.role === 'native') return ALLOW;
  if (p.device !== undefined) return deny(`client id ${JSON.stringify(clientId)} is not this credential's device ${JSON.stringify(p.device)}`);
  if (clientId.startsWith(`${p.name}:`) && clientId.length > p.name.length + 1) return ALLOW;
  return deny(`client id ${JSON.stringify(clientId)}: credential ${JSON.stringify(p.name)} (role ${p.role}) connects as ${JSON.stringify(p.name)} or ${JSON.stringify(`${p.name}:<suffix>`)}; only bridge and native credentials pick their own ids`);
}
