import type { Aedes, Client } from 'aedes';
import { BoundedMap } from '../core/bounded-map.js';
import type { ActuatorDirectory, ActuatorRef } from '../core/directory.js';
import { isSegment } from '../core/segments.js';
import type { ActuatorTrust } from './actuator-trust.js';

export { actuatorTrust } from './actuator-trust.js';

/**
 * Which actuator a contract device is, learned from what it subscribes to: a client that
 * subscribes to exactly `commands/<site>/<zone>/<actuator>` (no wildcard) is that actuator, under
 * its client id, so its `devices/<client id>/state` reports confirm that actuator's commands.
 * Remembered after it disconnects (a report may come before its next subscription); forgotten
 * when it unsubscribes. A device subscribed to several command topics is ambiguous.
 *
 * A persistent session resumed (`clean: false`, `sessionPresent`) holds its subscriptions without a
 * SUBSCRIBE: Aedes restores them from the persistence (the file on one gateway, after a restart;
 * Redis in a cluster, on a node that never saw the SUBSCRIBE) and emits no 'subscribe'. They are
 * read off the client when it is registered: in memory, before its CONNACK, so before any report
 * it sends; no look-up per report.
 *
 * `trust` says whether the client may be that actuator at all (actuator-trust.ts: a sensor's
 * credential is not its zone's HVAC); a subscription it refuses teaches nothing, and the device's
 * reports are dead letters that say why.
 */
export class SubscribedActuators implements ActuatorDirectory {
  private readonly byClient = new BoundedMap<string, Map<string, ActuatorRef>>(100_000);
  /** Why a device's last command subscription was not learnt, for its reports' dead letters. */
  private readonly refused = new BoundedMap<string, string>(10_000);

  constructor(private readonly trust: ActuatorTrust = () => undefined) {}

  observe(aedes: Aedes): void {
    aedes.on('subscribe', (subscriptions, client) => {
      for (const { topic } of subscriptions) {
        const ref = exactCommandTopic(topic);
        if (!ref || !client) continue;
        const why = this.trust(client, ref, topic);
        let refs = this.byClient.get(client.id);
        if (why !== undefined) {
          refs?.delete(topic);
          this.refused.set(client.id, why);
          continue;
        }
        if (!refs) this.byClient.set(client.id, (refs = new Map<string, ActuatorRef>()));
        refs.set(topic, ref);
        this.refused.delete(client.id);
      }
    });
    aedes.on('client', (client) => {
      if (!client.clean) this.resumed(client, restoredTopics(client));
    });
    aedes.on('unsubscribe', (topics, client) => {
      const refs = client ? this.byClient.get(client.id) : undefined;
      for (const topic of topics) refs?.delete(topic);
    });
  }

  /**
   * What a resumed session holds is what the device is now (a filter dropped on another node is
   * gone from it too). A session with no subscriptions (none kept, or expired) says nothing: the
   * client subscribes again, and what was learnt meanwhile stands.
   */
  private resumed(client: Client, topics: readonly string[]): void {
    if (topics.length === 0) return;
    const device = client.id;
    const refs = new Map<string, ActuatorRef>();
    for (const topic of topics) {
      const ref = exactCommandTopic(topic);
      const why = ref ? this.trust(client, ref, topic) : undefined;
      if (why !== undefined) this.refused.set(device, why);
      else if (ref) refs.set(topic, ref);
    }
    if (refs.size > 0) this.byClient.set(device, refs);
    else this.byClient.delete(device);
  }

  /** For tests and the device map: say a device is an actuator without a subscription. */
  learn(device: string, ref: ActuatorRef): void {
    let refs = this.byClient.get(device);
    if (!refs) this.byClient.set(device, (refs = new Map<string, ActuatorRef>()));
    refs.set(`commands/${ref.site}/${ref.zone}/${ref.actuator}`, ref);
  }

  actuatorOf(device: string): ActuatorRef | { readonly problem: string } {
    const refs = [...(this.byClient.get(device)?.values() ?? [])];
    if (refs.length === 1) return refs[0]!;
    const refused = refs.length === 0 ? this.refused.get(device) : undefined;
    if (refused !== undefined) return { problem: `no actuator is known for device ${JSON.stringify(device)}: ${refused}` };
    if (refs.length === 0) return { problem: `no actuator is known for device ${JSON.stringify(device)}: an actuator is known by its client id's subscription to exactly commands/<site>/<zone>/<actuator>` };
    return { problem: `device ${JSON.stringify(device)} subscribes to several command topics (${refs.map((r) => `${r.site}/${r.zone}/${r.actuator}`).join(', ')}): which one it reports is ambiguous` };
  }
}

/**
 * The filters Aedes restored onto a resumed session's client (its `subscriptions`, by filter: not
 * in Aedes' types; test/unit/broker/actuators.test.ts fails if that changes).
 */
function restoredTopics(client: Client): string[] {
  const held = (client as Client & { subscriptions?: Readonly<Record<string, unknown>> }).subscriptions;
  return held ? Object.keys(held) : [];
}

function exactCommandTopic(topic: string): ActuatorRef | undefined {
  const parts = topic.split('/');
  if (parts.length !== 4 || parts[0] !== 'commands') return undefined;
  const [, site = '', zone = '', actuator = ''] = parts;
  return isSegment(site) && isSegment(zone) && isSegment(actuator) ? { site, zone, actuator } : undefined;
}
