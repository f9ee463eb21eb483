/**
 * A cluster's nodes learn from each other what devices teach: a discovery config or a Zigbee2MQTT
 * bridge's device list reaches the node its device is connected to, but a partition's owner, on
 * any node, makes that zone's native commands (README "Beyond one machine"). The node whose ingest
 * took the message in tells the others on the brokers' bus (an internal `$` topic no client may
 * publish to), with what the publisher's credential said of it; they learn it as a restored one
 * (NativeRouter.relearn: no reading, status or last seen). A node starting learns the retained ones
 * from Redis (relearn.ts). Of what state messages teach, the owner's commands need a Gen1 Shelly
 * colour light's mode (its command topic is `color/0` or `white/<n>`), which component a Gen2+
 * Shelly's output is (`light:0`: Light.Set) and a Tasmota's FullTopic: those facts are told too.
 */
import type { Aedes, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { outputsOf } from './kept-learning.js';
import { teaches } from './relearn.js';
import type { DeviceMap } from './map.js';
import { NativeRouter, type NativeHint, type NativeOutcome, type RouterOptions } from './router.js';
import { isShellyOutput, nativeHint, type Availability, type DecodeResult, type Learnt } from './types.js';

type ShellyFact = Extract<Learnt, { what: 'shellyLightMode' | 'shellyOutput' | 'shellyOutputs' }>;
type Layout = Extract<Learnt, { what: 'tasmotaLayout' }>;
type Shared = ShellyFact | Layout;

export const LEARNT_TOPIC = '$gateway/devices/learnt';

/** The router whose recognised teaching messages are told to the other nodes once `share` is set. */
export class SharingRouter extends NativeRouter {
  share: ((topic: string, payload: Buffer, hint: NativeHint | undefined) => void) | undefined;
  /** Told of a Gen1 Shelly light's mode, a Gen2+ Shelly output's component or a Tasmota's FullTopic, learnt from what the device said here. */
  shareFact: ((fact: Shared) => void) | undefined;
  /** Told of each Shelly whose outputs (Gen2+) or light mode (Gen1) its message taught anew: they are retained across a restart (kept-learning.ts). */
  keep: ((nativeId: string) => void) | undefined;
  private readonly discoveryPrefix: string;

  constructor(o: RouterOptions, map: DeviceMap) {
    super(o, map);
    this.discoveryPrefix = o.discoveryPrefix;
  }

  override route(topic: string, payload: Buffer, now: number, hint?: NativeHint, redrive = false): NativeOutcome {
    const out = super.route(topic, payload, now, hint, redrive);
    if (this.share && !redrive && out.outcome === 'recognised' && teaches(topic, this.discoveryPrefix)) this.share(topic, payload, hint);
    return out;
  }

  protected override finish(r: DecodeResult | Availability[], topic: string, payload: Buffer, now: number, redrive: boolean): NativeOutcome {
    const out = super.finish(r, topic, payload, now, redrive);
    if (this.shareFact && !redrive && !Array.isArray(r) && r.outcome !== 'not_mine') for (const f of r.learnt ?? []) if (f.what === 'shellyLightMode' || f.what === 'shellyOutput' || f.what === 'shellyOutputs' || f.what === 'tasmotaLayout') this.shareFact(f);
    if (this.keep && !redrive && !Array.isArray(r) && r.outcome !== 'not_mine') for (const id of new Set(r.learnt?.flatMap((f) => (f.what === 'shellyOutput' || f.what === 'shellyOutputs' || f.what === 'shellyLightMode' ? [f.nativeId] : [])))) this.keep(id);
    return out;
  }
}

type Told = Message | { readonly fact: Shared };

interface Message {
  readonly topic: string;
  /** base64: a bridge list is JSON, but a config may be anything a device sent. */
  readonly payload: string;
  readonly hint?: NativeHint;
}

/** Starts telling and hearing; returns the stop. */
export function shareLearning(o: { aedes: Aedes; router: SharingRouter; clock: Clock; log: Logger }): () => void {
  const { aedes, router, log } = o;
  const tell = (told: Told, topic: string) => {
    const packet = { cmd: 'publish', topic: LEARNT_TOPIC, payload: Buffer.from(JSON.stringify(told)), qos: 0, retain: false, dup: false } as PublishPacket;
    aedes.publish(packet, (err) => err && log.warn({ topic, err: err.message }, 'could not tell the other nodes what a device taught: they learn it when it is said again or at their start'));
  };
  router.share = (topic, payload, hint) => tell({ topic, payload: payload.toString('base64'), ...(hint ? { hint } : {}) }, topic);
  router.shareFact = (fact) => tell({ fact }, fact.what === 'tasmotaLayout' ? `tasmota ${fact.topic}` : `shelly ${fact.nativeId}`);
  const heard = (packet: PublishPacket & { brokerId?: string }, done: () => void): void => {
    // Its own word comes back on the bus too: it has learnt that already, through ingest.
    try {
      if (packet.brokerId !== aedes.id) {
        const told = parseTold(packet.payload);
        if (told && 'fact' in told) router.learnt.apply([told.fact]);
        else if (told) router.relearn(told.topic, Buffer.from(told.payload, 'base64'), o.clock.now(), told.hint);
        else log.warn({ from: packet.brokerId }, `an unreadable message on ${LEARNT_TOPIC}: ignored`);
      }
    } catch (err) {
      // Never into the bus: one bad message must not stop this node's deliveries.
      log.warn({ from: packet.brokerId, err: (err as Error).message }, 'what another node was taught could not be learnt here: learnt when the device says it again');
    } finally {
      done();
    }
  };
  aedes.subscribe(LEARNT_TOPIC, heard, () => undefined);
  return () => {
    router.share = undefined;
    router.shareFact = undefined;
    aedes.unsubscribe(LEARNT_TOPIC, heard, () => undefined);
  };
}

/** A fact another node told, as JSON: checked before it is learnt. */
function factOf(f: Readonly<Record<string, unknown>>): Told | undefined {
  if (typeof f['nativeId'] !== 'string') return undefined;
  const { what, nativeId, mode, channel, component } = f;
  if (what === 'shellyLightMode') return mode === 'color' || mode === 'white' ? { fact: { what, nativeId, mode } } : undefined;
  const outputs = what === 'shellyOutputs' ? outputsOf(f['outputs']) : undefined;
  if (outputs) return { fact: { what: 'shellyOutputs', nativeId, outputs } };
  return what === 'shellyOutput' && typeof channel === 'string' && isShellyOutput(component) ? { fact: { what, nativeId, channel, component } } : undefined;
}

function parseTold(payload: PublishPacket['payload']): Told | undefined {
  try {
    const v = JSON.parse(payload.toString()) as (Partial<Message> & { fact?: Record<string, unknown> }) | null;
    const f = v?.fact;
    if (f?.['what'] === 'tasmotaLayout') return layoutFact(f);
    if (f) return factOf(f);
    if (typeof v?.topic !== 'string' || typeof v.payload !== 'string') return undefined;
    const hint = nativeHint(v.hint);
    return { topic: v.topic, payload: v.payload, ...(hint ? { hint } : {}) };
  } catch {
    return undefined;
  }
}

/** A Tasmota's FullTopic as another node tells it: a template with %prefix% and %topic%, three one-level prefixes. */
function layoutFact(f: Partial<Layout>): Told | undefined {
  const p = f.prefixes;
  const word = (w: unknown): w is string => typeof w === 'string' && w !== '' && !/[/#+]/.test(w);
  if (typeof f.topic !== 'string' || !word(f.topic) || typeof f.fullTopic !== 'string' || f.fullTopic.length > 128) return undefined;
  if (!f.fullTopic.includes('%prefix%') || !f.fullTopic.includes('%topic%') || !p || !word(p.cmnd) || !word(p.stat) || !word(p.tele)) return undefined;
  // Its %hostname% and %id%, where its FullTopic has them.
  const values = { ...(word(f.hostname) ? { hostname: f.hostname } : {}), ...(word(f.id) ? { id: f.id } : {}) };
  return { fact: { what: 'tasmotaLayout', topic: f.topic, fullTopic: f.fullTopic, prefixes: { cmnd: p.cmnd, stat: p.stat, tele: p.tele }, ...values } };
}
