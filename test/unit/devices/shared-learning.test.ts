/**
 * What another node was taught, heard on the brokers' bus: a message this node cannot learn from
 * (a decoder that throws, an unreadable word) is logged and dropped, and the bus goes on
 * delivering: it must not take the node's deliveries down with it.
 */
import { Aedes, type PublishPacket } from 'aedes';
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
