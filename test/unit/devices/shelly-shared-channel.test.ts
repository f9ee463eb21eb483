/**
 * A Gen2+ Shelly with two lights on one channel: a Pro RGBWW PM in its `rgbx2light` profile has
 * rgb:0 beside light:0 and light:1, in its `rgbcct` profile rgb:0 beside cct:0, in `cctx2` cct:0 and
 * cct:1 (Shelly Gen2 API, Devices/Gen2/ShellyProRGBWWPM). Every light its full status shows is kept;
 * a NotifyStatus adds one without dropping another; a plain lights command goes to the white one
 * (light, then cct), a colour command to the colour one (rgb), whichever reported last. Before, the
 * latest light seen replaced the other: alternating reports (rgb, light, rgb…) each taught a new fact
 * (a retained $gateway/devices/learnt/shelly/<id> write, a cluster fact), the channel-0 light was
 * sent RGB.Set whenever rgb:0 reported last, and a full status kept one of the two.
 */
import { describe, expect, it } from 'vitest';
import { keptFacts, keptShelly } from '../../../gateway/devices/kept-learning.js';
import { EMPTY_MAP } from '../../../gateway/devices/map.js';
import { SharingRouter } from '../../../gateway/devices/shared-learning.js';

const PRO = 'shellyprorgbwwpm-aabbcc0055cc';
const notify = (r: SharingRouter, method: 'NotifyStatus' | 'NotifyFullStatus', params: object): void =>
  void r.route(`${PRO}/events/rpc`, Buffer.from(JSON.stringify({ src: PRO, dst: `${PRO}/events`, method, params: { ts: 1700000000.1, ...params } })), 0);
const rgb = { 'rgb:0': { id: 0, source: 'init', output: false, rgb: [255, 120, 0], brightness: 60, apower: 0 } };
const light = (n: number) => ({ [`light:${n}`]: { id: n, source: 'init', output: false, brightness: 100, apower: 0 } });
const cct = (n: number) => ({ [`cct:${n}`]: { id: n, source: 'init', output: false, brightness: 80, ct: 4000, apower: 0 } });
const sys = { 'input:0': { id: 0, state: false }, sys: { mac: 'AABBCC0055CC', uptime: 2 } };
const RGBX2LIGHT = { ...rgb, ...light(0), ...light(1), ...sys };
const RGBCCT = { ...rgb, ...cct(0), ...sys };
const CCTX2 = { ...cct(0), ...cct(1), ...sys };

/** A router as the gateway's: what it keeps (a retained write each) and tells the cluster, counted. */
function router(): { r: SharingRouter; writes: string[]; facts: unknown[] } {
  const r = new SharingRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant' }, EMPTY_MAP);
  const writes: string[] = [];
  const facts: unknown[] = [];
  r.keep = (id) => void writes.push(id);
  r.shareFact = (f) => void facts.push(f);
  return { r, writes, facts };
}
const kept = (r: SharingRouter): unknown => {
  const k = keptShelly(r.learnt, PRO);
  return k && JSON.parse(k.payload.toString());
};
/** What a plain lights command, a colour one and a switch's are sent to on channel `n`. */
const commanded = (r: SharingRouter, n = '0'): unknown => ({ light: r.learnt.shellyOutput(PRO, n, 'light'), colour: r.learnt.shellyOutput(PRO, n, 'rgb'), other: r.learnt.shellyOutput(PRO, n, 'switch') });

describe('a Pro RGBWW PM: two lights on channel 0', () => {
  it('alternating NotifyStatus of rgb:0 and light:0 teach each once, and do not move the commands', () => {
    const { r, writes, facts } = router();
    const seen: unknown[] = [];
    for (const params of [rgb, light(0), rgb, light(0), rgb]) {
      notify(r, 'NotifyStatus', params);
      seen.push(commanded(r));
    }
    expect(seen.slice(1)).toEqual(Array(4).fill({ light: 'light', colour: 'rgb', other: 'light' }));
    expect([writes.length, facts.length]).toEqual([2, 2]);
    expect(kept(r)).toEqual({ 0: ['rgb', 'light'] });
  });

  it('its full status in rgbx2light keeps rgb:0 and light:0 (and light:1), across a restart, and the same full status again teaches nothing', () => {
    const { r, writes } = router();
    notify(r, 'NotifyFullStatus', RGBX2LIGHT);
    expect(kept(r)).toEqual({ 0: ['rgb', 'light'], 1: ['light'] });
    expect([commanded(r), r.learnt.shellyOutput(PRO, '1', 'light')]).toEqual([{ light: 'light', colour: 'rgb', other: 'light' }, 'light']);
    notify(r, 'NotifyStatus', rgb);
    notify(r, 'NotifyFullStatus', { ...light(1), ...light(0), ...rgb, ...sys });
    expect(writes).toHaveLength(1);
    const k = keptShelly(r.learnt, PRO)!;
    const after = router();
    after.r.learnt.apply(keptFacts(k.topic, k.payload)!);
    expect(commanded(after.r)).toEqual({ light: 'light', colour: 'rgb', other: 'light' });
  });

  it('rgbcct: a plain lights command goes to cct:0 (CCT.Set), a colour one to rgb:0, whichever reported last', () => {
    const { r } = router();
    notify(r, 'NotifyFullStatus', RGBCCT);
    notify(r, 'NotifyStatus', rgb);
    expect(commanded(r)).toEqual({ light: 'cct', colour: 'rgb', other: 'cct' });
    notify(r, 'NotifyStatus', cct(0));
    expect(commanded(r)).toEqual({ light: 'cct', colour: 'rgb', other: 'cct' });
    expect(kept(r)).toEqual({ 0: ['rgb', 'cct'] });
  });

  it('a profile change (its full status after the restart) still replaces: rgbx2light → cctx2 leaves cct:0 and cct:1 only', () => {
    const { r } = router();
    notify(r, 'NotifyFullStatus', RGBX2LIGHT);
    notify(r, 'NotifyFullStatus', CCTX2);
    expect(kept(r)).toEqual({ 0: ['cct'], 1: ['cct'] });
    expect(commanded(r)).toEqual({ light: 'cct', colour: 'cct', other: 'cct' });
  });
});
