/**
 * What another node was taught, heard on the brokers' bus: a message this node cannot learn from
 * (a decoder that throws, an unreadable word) is logged and dropped, and the bus goes on
 * delivering: it must not take the node's deliveries down with it.
 */
import { Aedes, type PublishPacket } from 'aedes';
import mqemitter from 'mqemitter';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../gateway/core/clock.js';
import { EMPTY_MAP } from '../../../gateway/devices/map.js';
import { LEARNT_TOPIC, shareLearning, SharingRouter } from '../../../gateway/devices/shared-learning.js';
import { captureLogs } from '../../helpers/gateway.js';

const brokers: Aedes[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await new Promise<void>((r) => b.close(() => r()));
});

class ThrowingRouter extends SharingRouter {
  readonly relearnt: string[] = [];
  override relearn(topic: string): boolean {
    if (topic.includes('bad')) throw new Error('a decoder bug');
    this.relearnt.push(topic);
    return true;
  }
}

const told = (topic: string, from: string): PublishPacket =>
  ({ cmd: 'publish', topic: LEARNT_TOPIC, payload: Buffer.from(JSON.stringify({ topic, payload: Buffer.from('{}').toString('base64') })), qos: 0, retain: false, dup: false, brokerId: from }) as PublishPacket;

describe('shared learning', () => {
  it('logs what it cannot learn and goes on hearing the next', async () => {
    const aedes = await Aedes.createBroker();
    brokers.push(aedes);
    const { lines, stream } = captureLogs();
    const router = new ThrowingRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant' }, EMPTY_MAP);
    const stop = shareLearning({ aedes, router, clock: systemClock, log: pino({ level: 'warn' }, stream) });
    const publish = (p: PublishPacket) => new Promise<void>((r) => aedes.publish(p, () => r()));
    await publish(told('homeassistant/sensor/bad/x/config', 'other-node'));
    await publish({ ...told('x', 'other-node'), payload: Buffer.from('not json') });
    for (let i = 0; i < 150; i++) await publish(told(`homeassistant/sensor/bad${i}/x/config`, 'other-node'));
    await publish(told('homeassistant/sensor/good/x/config', 'other-node'));
    expect(router.relearnt).toEqual(['homeassistant/sensor/good/x/config']);
    expect(lines.filter((l) => String(l['msg']).includes('could not be learnt here'))).toHaveLength(151);
    stop();
  });
});

/** Two nodes on one bus, as mqemitter-redis joins a cluster's brokers, each sharing what its router learns. */
async function twoNodes(map: typeof EMPTY_MAP) {
  const mq = mqemitter();
  const a = await Aedes.createBroker({ mq });
  const b = await Aedes.createBroker({ mq });
  brokers.push(a, b);
  const log = pino({ level: 'silent' });
  const options = { zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant' };
  const [ra, rb] = [new SharingRouter(options, map), new SharingRouter(options, map)];
  const stops = [shareLearning({ aedes: a, router: ra, clock: systemClock, log }), shareLearning({ aedes: b, router: rb, clock: systemClock, log })];
  return { ra, rb, stops };
}

describe('a Gen1 Shelly light’s mode, told to the other nodes', () => {
  it('is learnt by a node that never heard the light, so its owner commands the right topic', async () => {
    const { ra, rb, stops } = await twoNodes(EMPTY_MAP);
    // What an RGBW2 in white mode publishes (Shelly Gen1 MQTT API: shellies/<id>/white/<i>/status).
    ra.route('shellies/shellyrgbw2-C4A1B2/white/1/status', Buffer.from('{"ison":true,"source":"mqtt","has_timer":false,"timer_duration":0,"mode":"white","brightness":70,"power":0.00,"overpower":false}'), Date.now());
    expect(ra.learnt.shellyLightMode('shellyrgbw2-C4A1B2')).toBe('white');
    for (let i = 0; i < 50 && rb.learnt.shellyLightMode('shellyrgbw2-C4A1B2') === undefined; i++) await new Promise((r) => setImmediate(r));
    expect(rb.learnt.shellyLightMode('shellyrgbw2-C4A1B2')).toBe('white');
    // A Gen2+ dimmer's light:0 (its component, for Light.Set) is told too.
    ra.route('hall-dimmer/events/rpc', Buffer.from('{"src":"shellywalldimmer-b0a7329e11c4","method":"NotifyStatus","params":{"ts":1700000000.1,"light:0":{"id":0,"output":true,"brightness":40}}}'), Date.now());
    for (let i = 0; i < 50 && rb.learnt.shellyOutput('hall-dimmer', '0') === undefined; i++) await new Promise((r) => setImmediate(r));
    expect(rb.learnt.shellyOutput('hall-dimmer', '0')).toBe('light');
    for (const stop of stops) stop();
  });

  it('a Gen2+ Shelly’s full status after a profile change replaces its outputs on the other nodes too', async () => {
    const { ra, rb, stops } = await twoNodes(EMPTY_MAP);
    const full = (params: object) => ra.route('strip/events/rpc', Buffer.from(JSON.stringify({ src: 'shellyplusrgbwpm-aabbcc0077aa', method: 'NotifyFullStatus', params: { ts: 1700000000.1, ...params } })), Date.now());
    full({ 'light:0': { id: 0, output: false, brightness: 100 }, 'light:1': { id: 1, output: false, brightness: 100 } });
    for (let i = 0; i < 50 && rb.learnt.shellyOutput('strip', '1') === undefined; i++) await new Promise((r) => setImmediate(r));
    full({ 'rgbw:0': { id: 0, output: false, rgb: [255, 255, 255], brightness: 100, white: 0 } });
    for (let i = 0; i < 50 && rb.learnt.shellyOutput('strip', '0', 'light') !== 'rgbw'; i++) await new Promise((r) => setImmediate(r));
    expect(Object.fromEntries(rb.learnt.shellyOutputs('strip') ?? [])).toEqual({ 0: ['rgbw'] });
    for (const stop of stops) stop();
  });
});

describe('a Tasmota’s own FullTopic, told to the other nodes', () => {
  it('is learnt by a node that never heard the device, so its owner commands it where it listens', async () => {
    const { ra, rb, stops } = await twoNodes({ ...EMPTY_MAP, tasmota: { fullTopics: ['%prefix%/%topic%/', 'home/%topic%/%prefix%/'] } });
    ra.route('home/custom1/stat/POWER1', Buffer.from('OFF'), Date.now());
    const layout = { fullTopic: 'home/%topic%/%prefix%/', prefixes: { cmnd: 'cmnd', stat: 'stat', tele: 'tele' } };
    expect(ra.learnt.tasmotaLayout('custom1')).toEqual(layout);
    for (let i = 0; i < 50 && rb.learnt.tasmotaLayout('custom1') === undefined; i++) await new Promise((r) => setImmediate(r));
    expect(rb.learnt.tasmotaLayout('custom1')).toEqual(layout);
    for (const stop of stops) stop();
  });
});
