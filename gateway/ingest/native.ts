/**
 * Native-device messages into ingest: a topic that is not one of the contract's goes to the
 * devices layer (gateway/devices/router.ts), and what comes back becomes the gateway's ordinary
 * events: readings in their envelope (each with a deterministic id: a resend of the same message
 * is a duplicate), device status, actuator state, or a dead letter whose detail names the family,
 * the device and the key. Recognised traffic that is not a reading is counted, not dead-lettered.
 */
import { createHash } from 'node:crypto';
import type { ActuatorStateEvent } from '../core/events.js';
import { derivedEventId, isDerivedEventId, newEventId } from '../core/ids.js';
import { kindSpec } from '../core/kinds.js';
import { nativeHint } from '../devices/types.js';
import type { NativeHint, NativeOutcome, NativeRouter } from '../devices/router.js';
import type { IncomingPublish } from '../broker/publish-pipeline.js';
import type { Metrics } from '../observability/metrics.js';
import type { Ingest } from './ingest.js';
import { takeCode } from './codes.js';
import { KeypadCodes } from './keypad-codes.js';
import { KeypadPanel, pressIn, type KeypadPanelOptions, type KeypadSettings } from './keypad.js';
import { MAX_FUTURE_SKEW_MS, valueProblem } from './payload.js';
import { packetKey, type Resends } from './resends.js';

/** What the ids of a native message's readings derive from: the same message (topic, payload, time) gives the same ids. */
function nativeMessageDigest(topic: string, payload: Buffer, timeMs: number): Buffer {
  return createHash('sha1').update(topic).update('\n').update(String(timeMs)).update('\n').update(payload).digest();
}

/** The id of one reading of a native message: a UUIDv7 of its time, derived from the message and the native key it came from. */
function nativeReadingId(message: Buffer, timeMs: number, key: string): string {
  return derivedEventId(timeMs, createHash('sha1').update(message).update(key).digest());
}

/** The ids before they were UUIDv7s (`<16 base64url>:<key>`), still in the history a restart reads. */
const OLD_NATIVE_READING_ID = /^[A-Za-z0-9_-]{16}:./;

/** A reading id as nativeReadingId makes them: the reading came from a native device through the device map (the live page: such a device leaves when the map no longer places it). */
export function isNativeReadingId(id: string): boolean {
  // Asked for every reading the live page shows: the cheap tests first.
  return isDerivedEventId(id) || (id.charCodeAt(16) === 58 && OLD_NATIVE_READING_ID.test(id));
}

/** A placed message that carried only keys mapping to no kind: counted per device in the registry, nothing stored. */
function nothingIn(o: Extract<NativeOutcome, { outcome: 'placed' }>): boolean {
  return o.readings.length === 0 && o.statuses.length === 0 && o.actuators.length === 0 && o.problems.length === 0;
}

const hintOf = (packet: IncomingPublish): NativeHint | undefined => nativeHint(packet.native);

/** The gateway as Zigbee2MQTT keypads' alarm panel: its codes file and settings. */
export interface NativeKeypad {
  readonly codesFile: string;
  readonly settings: KeypadSettings;
}

export class NativeIngest {
  /** The alarm panel of Zigbee2MQTT keypads (keypad.ts), when a keypad codes file is given. */
  private readonly keypad: KeypadPanel | undefined;

  constructor(
    private readonly router: NativeRouter,
    private readonly ingest: Ingest,
    /** Ingest's: a redelivery is recognised, and waits for what it repeats, the same way as a contract reading's. */
    private readonly resends: Resends,
    private readonly metrics: Metrics,
    private readonly maxPayloadBytes: number,
    keypad?: NativeKeypad & Pick<KeypadPanelOptions, 'publisher' | 'log' | 'clock' | 'bus'>,
  ) {
    this.keypad = keypad && new KeypadPanel({ ...keypad, codes: new KeypadCodes(keypad.codesFile, keypad.log), metrics, now: () => ingest.now(), arm: (site, zone, armed) => ingest.keepArmed(site, zone, armed, 1) });
  }

  /**
   * `unknownTopic`: the dead letter's detail when no family recognises the topic either. A QoS 1
   * redelivery is a duplicate, acknowledged only once what it repeats is durable.
   */
  handle(clientId: string | null, sent: IncomingPublish, unknownTopic: string): Promise<void> | undefined {
    // A keypad's code is kept nowhere (codes.ts): only checked, by the keypad's panel (keypad.ts), and dropped.
    const { payload, code } = takeCode(sent.payload, sent.topic);
    if (payload === sent.payload) return this.taken(clientId, sent, unknownTopic, undefined);
    const pending = this.taken(clientId, { ...sent, payload }, unknownTopic, code);
    const { keypad } = this;
    const onward = sent.onward;
    if (!keypad || !onward) return pending;
    // The gateway is then the keypad's panel: the broker retains, queues and forwards the message
    // redacted too; while no code exists it goes on as sent (another panel needs the code).
    const redacted = keypad.active().then((active) => void (active && (onward.payload = payload)));
    return pending ? Promise.all([pending, redacted]).then(() => undefined) : redacted;
  }

  private taken(clientId: string | null, packet: IncomingPublish, unknownTopic: string, code: string | undefined): Promise<void> | undefined {
    const { ingest } = this;
    if (packet.payload.length > this.maxPayloadBytes) {
      // A Zigbee2MQTT bridge/devices lists every device with its exposes: read up to a few MiB (router.ts payloadLimit).
      const limit = Math.max(this.maxPayloadBytes, this.router.payloadLimit(packet.topic, hintOf(packet)) ?? 0);
      if (packet.payload.length > limit) {
        const what = limit > this.maxPayloadBytes ? `a Zigbee2MQTT bridge/devices of ${packet.payload.length} bytes, more than the ${limit} read (what its devices are is not learnt from it)` : `payload is ${packet.payload.length} bytes, the limit is ${limit}`;
        return ingest.deadLetter(clientId, packet, 'payload_too_large', what);
      }
    }
    if (ingest.isRedriving || packet.qos === 0 || packet.messageId === undefined) return this.decode(clientId, packet, unknownTopic, code);
    const key = packetKey(clientId, packet);
    if (this.resends.isRedelivery(clientId, packet)) return this.resends.duplicate(clientId, packet, key, undefined);
    const pending = this.decode(clientId, packet, unknownTopic, code);
    if (pending) this.resends.awaiting(key, pending);
    return pending;
  }

  private decode(clientId: string | null, packet: IncomingPublish, unknownTopic: string, code: string | undefined): Promise<void> | undefined {
    const { ingest } = this;
    const now = ingest.now();
    const out = this.router.route(packet.topic, packet.payload, now, hintOf(packet), ingest.isRedriving);
    if (out.outcome !== 'not_mine' && !ingest.isRedriving) this.metrics.countNative(out.family, out.outcome === 'placed' && nothingIn(out) ? 'unmapped' : out.outcome);
    switch (out.outcome) {
      case 'not_mine':
        return ingest.deadLetter(clientId, packet, 'unknown_topic', `${unknownTopic}, nor a native device's topic of a known family${this.announced(packet.topic)}`);
      case 'recognised':
      case 'refused':
        return undefined;
      case 'failure':
        return ingest.deadLetter(clientId, packet, 'invalid_payload', out.detail);
      case 'unassigned':
        return ingest.deadLetter(clientId, packet, 'unassigned_device', out.detail, true);
      case 'placed':
        return this.placed(clientId, packet, out, now, code);
    }
  }

  /** A Tasmota that announced a FullTopic the map does not read: how to read it. */
  private announced(topic: string): string {
    const a = this.router.learnt.tasmotaFullTopics.find(topic);
    return a ? `; tasmota:${a.nativeId} announced FullTopic ${JSON.stringify(a.fullTopic)} (tasmota/discovery): add \`tasmota: { fullTopics: [${JSON.stringify(a.fullTopic)}] }\` to the device map to read it` : '';
  }

  private placed(clientId: string | null, packet: IncomingPublish, out: Extract<NativeOutcome, { outcome: 'placed' }>, now: number, code: string | undefined): Promise<void> | undefined {
    const { ingest } = this;
    const pending: Promise<void>[] = [];
    const add = (p: Promise<void> | undefined): void => void (p && pending.push(p));
    const problems = [...out.problems];
    const who = `${out.family}:${out.nativeId}`;
    if (out.tsMs !== undefined && out.tsMs > now + MAX_FUTURE_SKEW_MS) {
      return ingest.deadLetter(clientId, packet, 'clock_skew', `${who}: ts ${new Date(out.tsMs).toISOString()} is ${Math.round((out.tsMs - now) / 1000)} s in the future (more than ${MAX_FUTURE_SKEW_MS / 60000} min): check the device clock`);
    }
    const timeMs = out.tsMs ?? now;
    const message = out.readings.length > 0 ? nativeMessageDigest(packet.topic, packet.payload, timeMs) : undefined;
    for (const r of out.readings) {
      const spec = kindSpec(r.kind);
      const why = spec ? valueProblem(spec, r.value) : `unknown kind ${JSON.stringify(r.kind)}`;
      if (why !== undefined || !spec) {
        problems.push(`${who}: ${r.key} is ${JSON.stringify(r.value)}: ${why ?? ''}`);
        continue;
      }
      const series = ingest.seriesOf(r.site, r.zone, r.device, r.kind);
      const id = nativeReadingId(message!, timeMs, r.key);
      add(ingest.accept(clientId, packet, series, { value: r.value, numeric: spec.toNumber(r.value), tsMs: out.tsMs, seq: undefined, id }, now));
    }
    for (const s of out.statuses) add(ingest.keepStatus(clientId, s.device, s.online, packet.qos, true));
    for (const a of out.actuators) {
      const { site, zone, actuator } = a.actuator;
      const event: ActuatorStateEvent = { id: newEventId(), site, zone, actuator, state: a.state, device: who, time: new Date(timeMs).toISOString(), timeMs, clientId: clientId ?? undefined, ...(a.cameBack === undefined ? {} : { cameBack: a.cameBack }) };
      add(ingest.keepActuatorState(event, packet.qos));
    }
    if (problems.length > 0) add(ingest.deadLetter(clientId, packet, 'invalid_payload', problems.join('; ')));
    add(this.keypadPress(clientId, packet, out, now, code));
    if (pending.length === 0) return undefined;
    return pending.length === 1 ? pending[0] : Promise.all(pending).then(() => undefined);
  }

  /**
   * A Zigbee2MQTT keypad's arm, disarm or panic (keypad.ts), live only (not a redrive: its code is
   * gone): its `keypad` reading is made here, with the id a reading of this message would get.
   */
  private keypadPress(clientId: string | null, packet: IncomingPublish, out: Extract<NativeOutcome, { outcome: 'placed' }>, now: number, code: string | undefined): Promise<void> | undefined {
    const { ingest, keypad } = this;
    if (!keypad || out.family !== 'zigbee2mqtt' || ingest.isRedriving || !packet.topic.endsWith(`/${out.nativeId}`)) return undefined;
    const pressed = pressIn(packet.payload);
    const placements = pressed && this.router.placement.placementsOf('zigbee2mqtt', out.nativeId);
    const place = placements && this.router.placement.placementFor(placements, undefined);
    if (!pressed || !place) return undefined;
    const base = packet.topic.slice(0, -out.nativeId.length - 1);
    const record = (value: 'ok' | 'fail'): Promise<void> | undefined => {
      const id = nativeReadingId(nativeMessageDigest(packet.topic, packet.payload, now), now, 'action_code');
      return ingest.accept(clientId, packet, ingest.seriesOf(place.site, place.zone, place.device, 'keypad'), { value, numeric: value === 'ok' ? 1 : 0, tsMs: undefined, seq: undefined, id }, now);
    };
    return keypad.press({ base, nativeId: out.nativeId, place, ...pressed }, code, record).then(
      () => undefined,
      (err: unknown) => ingest.deadLetter(clientId, packet, 'internal_error', `the keypad press could not be handled: ${(err as Error).message}`),
    );
  }
}
