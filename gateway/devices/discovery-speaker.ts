/**
 * A discovery config published by a client whose credential is bound to one native device
 * (`native`, e.g. `tasmota:plug-1`; broker/native-acl.ts lets it publish configs under its own node
 * id only). What the config says decides how other topics are read and where the gateway sends
 * commands, so it may speak for its own device only: read topics that device may publish, command
 * topics it listens to, and name (`device.identifiers`) no device that another node's configs
 * announced. ESPHome names its device by its MAC, not its node, so the name itself cannot be
 * checked against the credential: the first node to announce a device keeps it while its configs
 * are held. Admin, anonymous and bridge clients speak for many devices and are not checked.
 */
import type { Principal } from '../broker/acl.js';
import { nativeCanPublish, nativeCanSubscribe } from '../broker/native-acl.js';
import type { Discovery } from './discovery.js';
import type { DiscoveredEntity } from './families/homeassistant.js';
import type { Family, TasmotaOptions } from './types.js';

/** The credential's device, as the router's hint gives it. */
export interface Speaker {
  readonly family: Family;
  readonly nativeId: string;
}

const quote = (s: string): string => JSON.stringify(s.length > 96 ? `${s.slice(0, 96)}…` : s);

/** Why this config speaks for another device than the speaker's, or undefined when it is the speaker's own. */
export function foreignConfig(e: DiscoveredEntity, speaker: Speaker, discovery: Discovery, discoveryPrefix: string, tasmota?: TasmotaOptions): string | undefined {
  const self = `${speaker.family}:${speaker.nativeId}`;
  const p: Principal = { name: self, role: 'native', native: self, anonymous: false, discoveryPrefix, tasmota: () => tasmota };
  const only = `but this client's credential speaks for ${self} only: not learnt`;
  const reads = [e.state?.topic, e.climate?.mode?.topic, e.climate?.setpoint?.topic, e.climate?.current?.topic, ...e.availability.map((a) => a.topic)];
  for (const t of reads) if (t !== undefined && !nativeCanPublish(p, t).ok) return `${e.configTopic} reads ${quote(t)}, a topic ${self} may not publish, ${only}`;
  for (const t of [e.commandTopic, e.climate?.modeCommandTopic, e.climate?.temperatureCommandTopic]) {
    if (t !== undefined && !nativeCanSubscribe(p, t).ok) return `${e.configTopic} commands on ${quote(t)}, a topic ${self} does not listen to, ${only}`;
  }
  const others = [...discovery.nodesNaming(e.nativeId).keys()].filter((node) => node !== e.nodeId);
  if (others.length > 0) {
    const whose = others.map((node) => (node === '' ? 'configs without a node id' : `node ${quote(node)}`)).join(', ');
    return `${e.configTopic} names device ${quote(e.nativeId)}, announced by ${whose}, ${only}`;
  }
  return undefined;
}
