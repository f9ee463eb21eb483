/**
 * A Gen2+ Shelly whose profile changed has other components: a Plus RGBW PM switched from its
 * `light` profile (light:0…light:3) to `rgbw` (rgbw:0), a Pro 2PM from `switch` (switch:0, switch:1)
 * to `cover` (cover:0). The device restarts and its NotifyFullStatus lists what it has now: that
 * replaces what was learnt (and kept, kept-learning.ts). A NotifyStatus or `status/<component>` adds
 * or refreshes one component and drops none (a Pro RGBWW PM has two lights on a channel:
 * shelly-shared-channel.test.ts). Before, components were only ever added: `{"0":["light","rgbw"]}` for good,
 * and a lights command still went to light:0 (Light.Set), which the device no longer has.
 * Frames as the Shelly Gen2 API documents them (Devices/Gen2/ShellyPlusRGBWPM: light:0…3 in the
 * light profile, rgbw:0 in the rgbw profile; General/Notifications: NotifyStatus, NotifyFullStatus).
 */
import { describe, expect, it } from 'vitest';
import { keptFacts, keptShelly } from '../../../gateway/devices/kept-learning.js';
import { EMPTY_MAP } from '../../../gateway/devices/map.js';
import { NativeRouter } from '../../../gateway/devices/router.js';

const RGBW = 'shellyplusrgbwpm-aabbcc0044aa';
const PRO = 'shellypro2pm-aabbcc0044bb';
const router = (): NativeRouter => new NativeRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant' }, EMPTY_MAP);
const notify = (r: NativeRouter, id: string, method: 'NotifyStatus' | 'NotifyFullStatus', params: object): void =>
  void r.route(`${id}/events/rpc`, Buffer.from(JSON.stringify({ src: id, dst: `${id}/events`, method, params: { ts: 1700000000.1, ...params } })), 0);
const light = (n: number) => ({ [`light:${n}`]: { id: n, source: 'init', output: false, brightness: 100, temperature: { tC: 30.1, tF: 86.2 } } });
const LIGHT_PROFILE = { ...light(0), ...light(1), ...light(2), ...light(3), 'input:0': { id: 0, state: false }, sys: { mac: 'AABBCC0044AA', uptime: 2 } };
const RGBW_PROFILE = { 'rgbw:0': { id: 0, source: 'init', output: false, rgb: [255, 255, 255], brightness: 100, white: 0, apower: 0 }, 'input:0': { id: 0, state: false }, sys: { mac: 'AABBCC0044AA', uptime: 2 } };
const kept = (r: NativeRouter, id: string): unknown => {
  const k = keptShelly(r.learnt, id);
  return k && JSON.parse(k.payload.toString());
};

describe('a Gen2+ Shelly whose profile changed', () => {
  it('a Plus RGBW PM from light to rgbw: its full status replaces light:0…3 with rgbw:0, kept so', () => {
    const r = router();
    notify(r, RGBW, 'NotifyFullStatus', LIGHT_PROFILE);
    expect(r.learnt.shellyOutput(RGBW, '0', 'light')).toBe('light');
    notify(r, RGBW, 'NotifyFullStatus', RGBW_PROFILE);
    expect([r.learnt.shellyOutput(RGBW, '0', 'light'), r.learnt.shellyOutput(RGBW, '0')]).toEqual(['rgbw', 'rgbw']);
    expect(kept(r, RGBW)).toEqual({ 0: ['rgbw'] });
  });

  it('and back, across a restart: the kept light:0 is replaced by the full status after it', () => {
    const before = router();
    notify(before, RGBW, 'NotifyFullStatus', LIGHT_PROFILE);
    const k = keptShelly(before.learnt, RGBW)!;
    const after = router();
    after.learnt.apply(keptFacts(k.topic, k.payload)!);
    notify(after, RGBW, 'NotifyFullStatus', RGBW_PROFILE);
    expect([after.learnt.shellyOutput(RGBW, '0', 'light'), after.learnt.shellyOutput(RGBW, '3')]).toEqual(['rgbw', 'rgbw']);
    expect(kept(after, RGBW)).toEqual({ 0: ['rgbw'] });
  });

  it('a Pro 2PM from switch to cover: nothing is left of its switches (nothing kept)', () => {
    const r = router();
    notify(r, PRO, 'NotifyFullStatus', { 'switch:0': { id: 0, source: 'init', output: false, apower: 0 }, 'switch:1': { id: 1, source: 'init', output: false, apower: 0 }, sys: { uptime: 2 } });
    expect(kept(r, PRO)).toEqual({ 0: ['switch'], 1: ['switch'] });
    notify(r, PRO, 'NotifyFullStatus', { 'cover:0': { id: 0, source: 'init', state: 'stopped', apower: 0, current_pos: 50 }, 'input:0': { id: 0, state: false }, sys: { uptime: 2 } });
    expect(r.learnt.shellyOutput(PRO, '0')).toBeUndefined();
    expect(keptShelly(r.learnt, PRO)).toBeUndefined();
  });

  it('a NotifyStatus adds to a channel and drops nothing (the full status after a profile change does); a lights command goes to light:0 by its kind, not by which reported last', () => {
    const r = router();
    notify(r, RGBW, 'NotifyFullStatus', { 'switch:0': { id: 0, output: false }, ...light(0) });
    notify(r, RGBW, 'NotifyStatus', { 'rgbw:0': { id: 0, output: true, brightness: 40 } });
    expect(kept(r, RGBW)).toEqual({ 0: ['switch', 'light', 'rgbw'] });
    expect([r.learnt.shellyOutput(RGBW, '0', 'light'), r.learnt.shellyOutput(RGBW, '0', 'rgb'), r.learnt.shellyOutput(RGBW, '0', 'switch')]).toEqual(['light', 'rgbw', 'switch']);
    notify(r, RGBW, 'NotifyStatus', { 'light:1': { id: 1, output: true, brightness: 40 } });
    expect(kept(r, RGBW)).toEqual({ 0: ['switch', 'light', 'rgbw'], 1: ['light'] });
    notify(r, RGBW, 'NotifyFullStatus', RGBW_PROFILE);
    expect(kept(r, RGBW)).toEqual({ 0: ['rgbw'] });
  });
});
