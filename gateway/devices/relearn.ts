/**
 * At start, before the broker listens: the retained messages it restored (a single gateway's
 * snapshot, a cluster's Redis) teach the devices layer again what they taught before the restart.
 * Home Assistant discovery configs say where an entity's states are and how its commands go, and a
 * Zigbee2MQTT bridge's `bridge/devices` and `bridge/info` what each device is and how its state is
 * published, a Tasmota's `tasmota/discovery/<MAC>/config` (and its retained LWT) its FullTopic, and
 * what the gateway retained itself (kept-learning.ts) a Gen2+ Shelly's outputs and a Gen1 one's light mode. Devices send these once (retained) and not again until they restart themselves, so
 * without this a restarted gateway dead-lettered a discovered device's states and commanded its
 * actuators in the wrong form until then.
 */
import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import { principalOf, type NativeTopics } from '../broker/acl.js';
import type { CredentialStore } from '../broker/credentials.js';
import { nativeHintOf } from '../broker/native-acl.js';
import { keptFacts } from './kept-learning.js';
import type { NativeHint, NativeRouter } from './router.js';
import { nativeHint } from './types.js';

export interface RetainedSource {
  /** Aedes' persistence set up: its retained messages are back. */
  restore(): Promise<void>;
  retained(filters: string[]): AsyncIterable<{ topic: string; payload: Buffer }>;
}

export interface RelearnSources {
  readonly broker: RetainedSource;
  /** Which credential retained the message (the retained ledger): its bridge base or device. */
  readonly ownerOf: (topic: string) => string | undefined;
  readonly access: { readonly store: CredentialStore; readonly nativeTopics?: NativeTopics };
  /** The broker, where the gateway retains what devices teach but retain nothing of (kept-learning.ts). */
  readonly aedes?: Aedes;
}

interface RelearnOptions extends RelearnSources {
  readonly router: NativeRouter;
  readonly discoveryPrefix: string;
  readonly now: number;
  readonly log: Logger;
}

/**
 * Where firmware retains its online state: Zigbee2MQTT `<name>/availability` and `bridge/state`,
 * Tasmota `tele/<topic>/LWT`, Shelly `online` (Gen1 `shellies/<id>/online`, Gen2 `<prefix>/online`),
 * ESPHome `<node>/status`; each also its will.
 */
const AVAILABILITY = /\/(availability|bridge\/state|LWT|online|status)$/;

/** A Tasmota's own discovery config (retained): its topic and FullTopic, where its commands go. */
const TASMOTA_CONFIG = /^tasmota\/discovery\/[0-9A-Fa-f]{12}\/config$/;

/** What was read again at start; the availability retained waits for `availability` (after the history's seed). */
export interface Relearning {
  readonly read: number;
  readonly learnt: number;
  /** Reads the availability retained (each device's and bridge's last word, over what the history seeded); says what all taught. */
  availability(): { read: number; learnt: number };
}

/**
 * Feeds the restored retained messages that teach what devices are (discovery configs, bridge
 * lists) to the router at once: before the rules rebuild and go live, so a resend fallen due goes
 * out in the device's own form. Their availability is kept for `availability()`.
 */
export async function teachRetained(o: RelearnOptions): Promise<Relearning> {
  await o.broker.restore();
  let read = 0;
  let learnt = 0;
  const later: { topic: string; payload: Buffer }[] = [];
  const feed = (topic: string, payload: Buffer): void => {
    read++;
    try {
      if (o.router.relearn(topic, payload, o.now, hintOf(o, topic))) learnt++;
    } catch (err) {
      o.log.warn({ topic, err: (err as Error).message }, 'a restored retained message could not be read again: what it taught is learnt when the device says it again');
    }
  };
  // A bridge's base may have several levels (`home/zigbee2mqtt`): all of them, picked by their ends.
  for await (const { topic, payload } of o.broker.retained(['#'])) {
    const kept = keptFacts(topic, payload);
    // What the gateway retained itself: a Gen2+ Shelly's outputs, a Gen1 colour light's mode.
    if (kept) {
      read++;
      o.router.learnt.apply(kept);
      if (kept.length > 0) learnt++;
    } else if (teaches(topic, o.discoveryPrefix)) feed(topic, payload);
    // And the availability retained, after the seed from the history (which cannot tell a device's own word from its bridge's will).
    else if (AVAILABILITY.test(topic)) {
      later.push({ topic, payload });
      // A Tasmota's LWT says its FullTopic now, before the rules go live: a resend fallen due goes where the device listens.
      if (topic.endsWith('/LWT')) learnFrom(o, topic, payload);
    }
  }
  // Said now, before the rules go live (their first resends follow it in the log).
  if (read > 0) o.log.info({ read, learnt }, 'learnt again from the restored retained messages: discovery configs, Zigbee2MQTT bridge lists');
  const taught = { read, learnt };
  return {
    ...taught,
    availability() {
      const waiting = later.splice(0);
      for (const { topic, payload } of waiting) feed(topic, payload);
      if (waiting.length > 0) o.log.info({ read: waiting.length, learnt: learnt - taught.learnt }, 'read again the restored retained availability of devices and bridges, over what the history seeded');
      return { read, learnt };
    },
  };
}

/** What a retained availability's topic teaches (a Tasmota's FullTopic), not its availability. */
function learnFrom(o: RelearnOptions, topic: string, payload: Buffer): void {
  try {
    o.router.relearn(topic, payload, o.now, hintOf(o, topic), true);
  } catch {
    // Said when it is read again for its availability (feed).
  }
}

/** Both at once (no history to seed from in between). */
export async function relearnRetained(o: RelearnOptions): Promise<{ read: number; learnt: number }> {
  return (await teachRetained(o)).availability();
}

/** Whether a retained message on this topic teaches what a device is (a discovery config, a bridge's device list or info). */
export function teaches(topic: string, discoveryPrefix: string): boolean {
  return (topic.startsWith(`${discoveryPrefix}/`) && topic.endsWith('/config')) || topic.endsWith('/bridge/devices') || topic.endsWith('/bridge/info') || TASMOTA_CONFIG.test(topic);
}

function hintOf(o: RelearnOptions, topic: string): NativeHint | undefined {
  const owner = o.ownerOf(topic);
  // A cluster's retained messages come from Redis, which keeps no owner: a bridge's own topics say
  // its base (the broker let only that bridge, or an admin, publish under it).
  if (owner === undefined) {
    const end = ['/bridge/devices', '/bridge/info'].find((e) => topic.endsWith(e));
    return end === undefined ? undefined : { family: 'zigbee2mqtt', base: topic.slice(0, -end.length) };
  }
  const credential = o.access.store.get(owner);
  return nativeHint(credential && nativeHintOf(principalOf(credential, o.access.nativeTopics)));
}
