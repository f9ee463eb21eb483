/**
 * Gen1 Shelly announces: `shellies/announce` (at each connection, and when asked on
 * `shellies/command`) and `shellies/<id>/announce`, `{"id":…,"model":…,"mac":…,"ip":…,"new_fw":…,"fw_ver":…}`,
 * an RGBW2's with its `mode`.
 */
import { failure, recognised, teach } from '../collect.js';
import { own, parseObject } from '../normalise.js';
import type { DecodeOptions, DecodeResult, Learnt } from '../types.js';

const FAMILY = 'shelly';

/**
 * An RGBW2's announce carries its mode, which decides its topics (`color/0` or `white/<n>`):
 * `{"id":"shellyrgbw2-…","model":"SHRGBW2",…,"mode":"white"}` (ioBroker.shelly
 * src/lib/protocol/mqtt.ts reads `mode` there). A bulb's mode does not move its topics.
 */
export function announcedMode(topicId: string | undefined, text: string, options: DecodeOptions): Learnt | undefined {
  const obj = parseObject(text);
  if (!obj) return undefined;
  const mode = own(obj, 'mode');
  const id = topicId ?? own(obj, 'id');
  if ((mode !== 'color' && mode !== 'white') || typeof id !== 'string' || id === '') return undefined;
  if (own(obj, 'model') !== 'SHRGBW2' && !/^shellyrgbw2/i.test(id)) return undefined;
  return options.learnt?.shellyLightMode(id) === mode ? undefined : { what: 'shellyLightMode', nativeId: id, mode };
}

/**
 * `shellies/announce`, where a Gen1 says who it is: `id` is its MQTT id, the one its topics use
 * (ha-shellies-discovery builds `shellies/<id>/…` from it). A client whose credential is bound to
 * one Shelly announces that one only: naming another would set that device's mode.
 */
export function announcement(text: string, options: DecodeOptions): DecodeResult {
  const mine = options.speaksFor;
  const named = mine === undefined ? undefined : announcedId(text);
  if (named !== undefined && named !== mine) return failure(FAMILY, mine, `shellies/announce names ${JSON.stringify(named.slice(0, 64))}, but this client's credential speaks for shelly:${mine} only: not learnt from`);
  return teach(recognised(FAMILY, undefined, 'announcement (shellies/announce)'), announcedMode(undefined, text, options));
}

function announcedId(text: string): string | undefined {
  const obj = parseObject(text);
  const id = obj ? own(obj, 'id') : undefined;
  return typeof id === 'string' && id !== '' ? id : undefined;
}
