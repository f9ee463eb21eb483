/**
 * Shelly commands. Gen1: on/off to the topic the device listens on for its kind of output:
 * `relay/<n>/command` (relays), `light/<n>/command` (Dimmer, Dimmer 2, Duo, Vintage),
 * `color/0/command` (RGBW2 in colour mode, Bulb, Bulb RGBW / DUO RGBW) and `white/<n>/command`
 * (RGBW2 in white mode, four channels). Gen2+: an RPC frame to `<prefix>/rpc`, the `Set` of the
 * output's component: `Switch.Set` for a relay, `Light.Set` for a dimmer's `light:<n>`, `RGB.Set`,
 * `RGBW.Set`, `CCT.Set`, `RGBCCT.Set` (Shelly's Gen2 API; home-assistant/core
 * components/shelly/light.py calls `<Component>.Set` with `{id, on}` the same way).
 */
import type { EncodeOptions, EncodeResult, NativeCommand, ShellyOutput } from '../types.js';
import { GATEWAY_RPC_SRC } from './shelly-rpc.js';

/** ioBroker.shelly src/lib/devices/gen1/shellydimmer2.ts, shellybulbduo.ts, shellyvintage.ts: mqtt_cmd `light/0/command`. */
const GEN1_LIGHT = /^(shellydimmer|shellybulbduo|shellyvintage)/i;
/**
 * RGBW2: `color/0/command` in color mode, `white/<n>/command` (n 0–3) in white mode (the Gen1
 * API's RGBW2 MQTT section as wiki.loxberry.de's shellyrgbw2 page quotes it; ioBroker.shelly
 * src/lib/devices/gen1/shellyrgbw2.ts). Bulb and Bulb RGBW / DUO RGBW: `color/0/command` in
 * either mode, the mode being a field of `color/0/set` (ioBroker.shelly shellybulb.ts,
 * shellycolorbulb.ts). The Duo (shellybulbduo) is a white bulb: light/.
 */
const GEN1_COLOUR = /^(shellyrgbw2|shellycolorbulb|shellybulb(?!duo))/i;
const RGBW2 = /^shellyrgbw2/i;
const GEN2_ID = /^(shellyplus|shellypro|shellywalldisplay|shellywalldimmer|shellyblu|shelly1mini|shelly1pmmini|shellypmmini|shellyaz|shelly\w*g[3-9])/i;
/** Gen2+ dimmers that have only `light` outputs, by their default id (Pro Dimmer 1PM/2PM, Dimmer Gen3, 0/1-10V Dimmer PM Gen3, Plus Wall Dimmer). */
const GEN2_DIMMER = /^(shellyprodm\dpm|shellydimmerg\d|shelly0110dimg\d|shellywalldimmer)-/i;
const METHOD: Readonly<Record<ShellyOutput, string>> = { switch: 'Switch.Set', light: 'Light.Set', rgb: 'RGB.Set', rgbw: 'RGBW.Set', cct: 'CCT.Set', rgbcct: 'RGBCCT.Set' };

/** HVAC is not a Shelly relay's language: a mode and setpoint are refused. */
export function encode(nativeId: string, channel: string | undefined, command: NativeCommand, options: EncodeOptions = {}): EncodeResult {
  if (!('state' in command)) return { ok: false, reason: `shelly:${nativeId}: a Shelly relay takes on/off, not a mode and setpoint` };
  if (nativeId === '' || /[#+]/.test(nativeId)) return { ok: false, reason: `shelly: "${nativeId}" is not a Shelly id or prefix` };
  const n = channel ?? '0';
  if (!/^\d{1,3}$/.test(n)) return { ok: false, reason: `shelly:${nativeId}: channel "${n}" is not a relay or switch id` };
  // A device whose status showed a Gen2+ component is one, whatever its prefix.
  const generation = options.shellyGeneration ?? (options.shellyOutput !== undefined || GEN2_ID.test(nativeId) ? 2 : 1);
  if (generation === 1) {
    const output = gen1Output(nativeId, n, options.shellyLightMode);
    if ('why' in output) return { ok: false, reason: `shelly:${nativeId}: ${output.why}` };
    return { ok: true, publishes: [{ topic: `shellies/${nativeId}/${output.type}/${n}/command`, payload: command.state }] };
  }
  // What its status showed; before that a dimmer's id says, else a relay's (most Gen2+ devices are).
  const output = options.shellyOutput ?? (GEN2_DIMMER.test(nativeId) ? 'light' : 'switch');
  // The brightness of a rules' lights command is not sent, as to every family's light (README).
  const frame = { id: options.rpcId ?? 1, src: options.rpcSrc ?? GATEWAY_RPC_SRC, method: METHOD[output], params: { id: Number(n), on: command.state === 'on' } };
  return { ok: true, publishes: [{ topic: `${nativeId}/rpc`, payload: JSON.stringify(frame) }] };
}

/**
 * The Gen1 output type a command goes to, or why there is none. A colour light is
 * commanded where it reports (learnt from its `color/…` or `white/…` topics or an RGBW2's
 * announce, whatever its id); before that its id says, and an RGBW2 channel above 0 (only white
 * mode has four) means white mode.
 */
function gen1Output(id: string, n: string, learnt: 'color' | 'white' | undefined): { type: string } | { why: string } {
  if (learnt === undefined && !GEN1_COLOUR.test(id)) return { type: GEN1_LIGHT.test(id) ? 'light' : 'relay' };
  const mode = learnt ?? (n !== '0' && RGBW2.test(id) ? 'white' : 'color');
  if (mode === 'color' && n !== '0') return { why: `in color mode it has one light (channel 0), not channel ${n}` };
  return { type: mode };
}
