/**
 * What a Gen2+ Shelly's status teaches of its outputs: which component each is (`light:0`:
 * Light.Set, `rgbw:0`: RGBW.Set). A NotifyStatus or `status/<component>` adds or refreshes one, and
 * drops none (a Pro RGBWW PM's rgb:0 and light:0 share a channel; what is new is taught once); a
 * NotifyFullStatus lists every component the device has now (sent at each connection: a device
 * whose profile changed restarts), so its outputs replace what was learnt: a Plus RGBW PM switched
 * from its light profile to rgbw has rgbw:0 and no light:0 any more, a Pro 2PM switched to cover no
 * switch (Shelly Gen2 API: Devices/Gen2/ShellyPlusRGBWPM, ShellyProRGBWWPM; General/Notifications).
 */
import { isObject, own, type JsonObject } from '../normalise.js';
import { isShellyOutput, withOutput, type DecodeOptions, type DecodeResult, type Learnt, type ShellyOutput } from '../types.js';

const OUTPUT = /^([a-z]+)(?::(\d+))?$/;

/** Learns which component each output is (`light:0`: Light.Set), when the router does not know it yet. */
export function outputLearner(id: string, options: DecodeOptions, learnt: Learnt[]): (type: ShellyOutput, n: string) => void {
  return (type, n) => void (options.learnt?.shellyOutput(id, n, type) !== type && learnt.push({ what: 'shellyOutput', nativeId: id, channel: n, component: type }));
}

/** The outputs a full status lists, when they are not what the router knows (nothing when it knows none and there are none). */
export function fullOutputs(id: string, params: JsonObject, options: DecodeOptions): Learnt | undefined {
  const outputs: Record<string, ShellyOutput[]> = {};
  for (const key of Object.keys(params)) {
    const m = OUTPUT.exec(key);
    const type = m?.[1];
    if (!isShellyOutput(type) || !isObject(own(params, key))) continue;
    const n = m?.[2] ?? '0';
    outputs[n] = withOutput(outputs[n] ?? [], type);
  }
  const known = options.learnt?.shellyOutputs(id) ?? new Map<string, readonly ShellyOutput[]>();
  const now = Object.entries(outputs);
  const same = now.length === known.size && now.every(([n, components]) => components.length === known.get(n)?.length && components.every((c) => known.get(n)?.includes(c)));
  return same ? undefined : { what: 'shellyOutputs', nativeId: id, outputs };
}

export function taught(r: DecodeResult, learnt: Learnt[]): DecodeResult {
  if (learnt.length > 0 && r.outcome !== 'not_mine') r.learnt = learnt;
  return r;
}
