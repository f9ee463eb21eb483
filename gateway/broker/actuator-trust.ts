import type { Client } from 'aedes';
import type { Logger } from 'pino';
import { logWarn } from '../core/errors.js';
import type { ActuatorRef } from '../core/directory.js';
import { LogLimiter } from '../observability/log.js';
import type { Principal } from './acl.js';
import type { Credential } from './credentials.js';

/**
 * Whether a client that subscribes to exactly `commands/<site>/<zone>/<actuator>` may be learnt as
 * that actuator (actuators.ts): undefined when it may, else why not (the dead letter's detail).
 */
export type ActuatorTrust = (client: Client, ref: ActuatorRef, topic: string) => string | undefined;

export interface ActuatorTrustOptions {
  /** Who a connected client is (Access.principal). */
  readonly principal: (client: Client) => Principal | undefined;
  readonly store: { list(): Credential[]; readonly generation: number };
  readonly log: Logger;
  readonly now: () => number;
}

/** One warning per credential and topic this often: a device resubscribes at every reconnect. */
const WARN_EVERY_MS = 10 * 60_000;

/**
 * A `device` credential may subscribe to its zone's command topics (a thermostat that measures and
 * switches, on one credential), so a subscription alone would let a sensor pose as its zone's
 * actuator: its forged state would confirm commands, or be a change by hand that holds the rules
 * off. Where the zone's actuators have credentials of their own (role `actuator` with that site
 * and zone, that site and no zone, or no site at all), a `device` client is not learnt as one of them. Every other
 * client (actuator, admin, bridge, native, anonymous) is learnt as before.
 */
export function actuatorTrust(o: ActuatorTrustOptions): ActuatorTrust {
  const limiter = new LogLimiter(o.log, 1, WARN_EVERY_MS, o.now);
  let cached: { generation: number; bySite: Map<string, string[]>; byZone: Map<string, string[]>; everywhere: string[] } | undefined;
  // Built once per change of the credentials, not per SUBSCRIBE (list() sorts them all).
  const actuatorCredentials = (site: string, zone: string): string[] => {
    if (cached?.generation !== o.store.generation) {
      const bySite = new Map<string, string[]>();
      const byZone = new Map<string, string[]>();
      // An actuator credential with no site may take every site's commands: it covers every zone.
      const everywhere: string[] = [];
      for (const c of o.store.list()) {
        if (c.role !== 'actuator') continue;
        if (c.site === undefined) {
          everywhere.push(c.name);
          continue;
        }
        const [map, key] = c.zone === undefined ? [bySite, c.site] : [byZone, `${c.site}/${c.zone}`];
        map.set(key, [...(map.get(key) ?? []), c.name]);
      }
      cached = { generation: o.store.generation, bySite, byZone, everywhere };
    }
    return [...(cached.byZone.get(`${site}/${zone}`) ?? []), ...(cached.bySite.get(site) ?? []), ...cached.everywhere];
  };

  return (client, ref, topic) => {
    const p = o.principal(client);
    if (!p || p.anonymous || p.role !== 'device') return undefined;
    const owners = actuatorCredentials(ref.site, ref.zone);
    if (owners.length === 0) return undefined;
    const why = `credential ${JSON.stringify(p.name)} (role device) subscribed to ${topic}, but ${ref.site}/${ref.zone}'s actuators have their own credentials (${owners.join(', ')}): a device's reports are not an actuator's`;
    const suppressed = limiter.admit(`${p.name} ${topic}`);
    if (suppressed !== false) {
      logWarn(o.log, 'GW_ERR_ACCESS', { credential: p.name, clientId: client.id, topic, actuatorCredentials: owners, ...(suppressed > 0 ? { suppressed } : {}) }, `${why}; it is not learnt as ${ref.actuator}, and its devices/${client.id}/state reports are dead letters (unknown_actuator)`);
    }
    return why;
  };
}
