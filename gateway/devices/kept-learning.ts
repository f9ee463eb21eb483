/**
 * Which component each output of a Gen2+ Shelly is (`light:0`: Light.Set, `rgbw:0`: RGBW.Set), and
 * a Gen1 colour light's mode (`white/<n>/command` or `color/0/command`), is kept across the gateway's restart as a Tasmota's FullTopic is: in a retained message the broker
 * keeps (a single gateway's snapshot, a cluster's Redis) and the devices layer reads again at start
 * (relearn.ts). A Tasmota retains its LWT itself; a Shelly retains nothing that says its components
 * (NotifyStatus, NotifyFullStatus and `status/<component>` are sent on a change or at its
 * connection), so the gateway retains what it learnt: one message per device, on an internal `$`
 * topic no client may publish or subscribe to, nor is given (broker/acl.ts, broker/delivery.ts).
 */
import type { Aedes, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import type { LearntFacts } from './learnt.js';
import { isShellyOutput, type Learnt, type ShellyOutput } from './types.js';

export const KEPT_SHELLY_PREFIX = '$gateway/devices/learnt/shelly/';
/** As learnt.ts bounds a device's outputs: a message naming more is not the gateway's. */
const MAX_OUTPUTS = 16;

/**
 * The retained message that says what a Shelly taught: a Gen2+ one's outputs (`{"0":["light"]}`,
 * `{"0":["switch","light"]}`), a Gen1 colour light's mode (`{"mode":"white"}`: `white/<n>/command`);
 * undefined when nothing is learnt of it.
 */
export function keptShelly(learnt: LearntFacts, nativeId: string): { topic: string; payload: Buffer } | undefined {
  const outputs = learnt.shellyOutputs(nativeId);
  const mode = learnt.shellyLightMode(nativeId);
  if ((!outputs || outputs.size === 0) && mode === undefined) return undefined;
  return { topic: `${KEPT_SHELLY_PREFIX}${nativeId}`, payload: Buffer.from(JSON.stringify({ ...Object.fromEntries(outputs ?? []), ...(mode === undefined ? {} : { mode }) })) };
}

/** What a restored message on {@link KEPT_SHELLY_PREFIX} says, checked (a snapshot may be old or damaged); undefined when it is none. */
export function keptFacts(topic: string, payload: Buffer): Learnt[] | undefined {
  if (!topic.startsWith(KEPT_SHELLY_PREFIX)) return undefined;
  const nativeId = topic.slice(KEPT_SHELLY_PREFIX.length);
  if (nativeId === '' || /[#+]/.test(nativeId)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(payload.toString());
  } catch {
    return undefined;
  }
  const outputs = outputsOf(v);
  if (!outputs) return undefined;
  const mode = (v as Record<string, unknown>)['mode'];
  const facts: Learnt[] = Object.keys(outputs).length > 0 ? [{ what: 'shellyOutputs', nativeId, outputs }] : [];
  return mode === 'color' || mode === 'white' ? [...facts, { what: 'shellyLightMode', nativeId, mode }] : facts;
}

/** A device's outputs by channel as JSON (kept here, or told by another node), checked: the valid ones, in the order they were learnt (the latest last). */
export function outputsOf(v: unknown): Record<string, ShellyOutput[]> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const entries = Object.entries(v as Record<string, unknown>).filter(([key]) => key !== 'mode');
  if (entries.length > MAX_OUTPUTS) return undefined;
  const outputs: Record<string, ShellyOutput[]> = {};
  for (const [channel, components] of entries) {
    if (!/^\d{1,3}$/.test(channel) || !Array.isArray(components)) continue;
    const valid = components.slice(0, MAX_OUTPUTS).filter(isShellyOutput);
    if (valid.length > 0) outputs[channel] = valid;
  }
  return outputs;
}

/** Retains each device's outputs once they change, and deletes them once the learnt table forgets the device; returns the stop. */
export function keepLearning(o: { aedes: Aedes; router: { keep: ((nativeId: string) => void) | undefined; readonly learnt: LearntFacts }; log: Logger }): () => void {
  const { aedes, router, log } = o;
  router.keep = (nativeId) => {
    // None left (a full status listed no output: a Pro switched to cover): the empty retained deletes what was kept.
    const kept = keptShelly(router.learnt, nativeId) ?? { topic: `${KEPT_SHELLY_PREFIX}${nativeId}`, payload: Buffer.alloc(0) };
    const packet = { cmd: 'publish', topic: kept.topic, payload: kept.payload, qos: 0, retain: true, dup: false } as PublishPacket;
    aedes.publish(packet, (err) => err && log.warn({ device: `shelly:${nativeId}`, err: err.message }, 'what a Shelly taught of its outputs could not be kept: after a restart it is learnt when the device reports again'));
  };
  // One forgotten to stay within the learnt table's bound (10,000 devices) is no longer retained either.
  router.learnt.shellyForgotten = router.keep;
  return () => {
    router.keep = undefined;
    router.learnt.shellyForgotten = undefined;
  };
}
