import { Aedes } from 'aedes';
import mqemitter from 'mqemitter';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ASK_TOPIC, ClusterDeviceViews, merge } from '../../../gateway/devices/cluster-view.js';
import type { DeviceView } from '../../../gateway/devices/registry.js';

const view = (key: string, lastSeen: string, messages: number, waiting = false): DeviceView => ({
  key, family: 'zigbee2mqtt', nativeId: key.split(':')[1]!, placements: [], waiting, firstSeen: lastSeen, lastSeen, online: null, silent: false,
  battery: null, messages, kinds: [], unmappedKeys: {}, problems: [], actuators: {},
});

describe('merging the nodes’ device lists', () => {
  it('keeps the view of the node that heard a device last, and names only nodes that heard it', () => {
    const merged = merge(new Map([
      ['A', [view('zigbee2mqtt:plug', '2026-11-28T10:00:00.000Z', 5), view('zigbee2mqtt:stray', '2026-11-28T09:00:00.000Z', 1, true)]],
      // B heard the plug later; C only learnt of it (a discovery config another node shared), later still.
      ['B', [view('zigbee2mqtt:plug', '2026-11-28T11:00:00.000Z', 2)]],
      ['C', [view('zigbee2mqtt:plug', '2026-11-28T12:00:00.000Z', 0)]],
    ]));
    expect(merged.map((d) => [d.key, d.lastSeen, d.messages, d.heardBy])).toEqual([
      ['zigbee2mqtt:stray', '2026-11-28T09:00:00.000Z', 1, ['A']],
      ['zigbee2mqtt:plug', '2026-11-28T11:00:00.000Z', 2, ['A', 'B']],
    ]);
  });
});

describe('asking the other nodes for their devices', () => {
  it('answers requests made while an ask is out with that ask: one ask, one answer a node', async () => {
    const mq = mqemitter();
    const [a, b] = [await Aedes.createBroker({ mq }), await Aedes.createBroker({ mq })];
    const log = pino({ level: 'silent' });
    let bViews = 0;
    const va = new ClusterDeviceViews({ aedes: a, node: 'A', liveNodes: () => ['A', 'B'], view: () => [view('zigbee2mqtt:a1', '2026-11-28T10:00:00.000Z', 1)], log });
    const vb = new ClusterDeviceViews({ aedes: b, node: 'B', liveNodes: () => ['A', 'B'], view: () => (bViews++, [view('zigbee2mqtt:b1', '2026-11-28T10:00:00.000Z', 1)]), log });
    va.start();
    vb.start();
    let asks = 0;
    a.subscribe(ASK_TOPIC, (_p, done) => (asks++, done()), () => undefined);
    const answers = await Promise.all(Array.from({ length: 5 }, () => va.gather()));
    expect(answers.every((x) => x.unanswered.length === 0 && x.devices.map((d) => d.key).join() === 'zigbee2mqtt:a1,zigbee2mqtt:b1')).toBe(true);
    expect([asks, bViews]).toEqual([1, 1]);
    // The next request, once that ask is answered, asks again.
    await va.gather();
    expect([asks, bViews]).toEqual([2, 2]);
    va.stop();
    vb.stop();
    for (const broker of [a, b]) await new Promise<void>((r) => broker.close(() => r()));
  });

  it('leaves out what another node answered that is not a device view, and lists the rest', async () => {
    const mq = mqemitter();
    const [a, b] = [await Aedes.createBroker({ mq }), await Aedes.createBroker({ mq })];
    const log = pino({ level: 'silent' });
    const va = new ClusterDeviceViews({ aedes: a, node: 'A', liveNodes: () => ['A', 'B'], view: () => [], log });
    // Another version's answer: an entry without a key, and null.
    const vb = new ClusterDeviceViews({ aedes: b, node: 'B', liveNodes: () => ['A', 'B'], view: () => [view('zigbee2mqtt:b1', '2026-11-28T10:00:00.000Z', 1), { name: 'old' } as unknown as DeviceView, null as unknown as DeviceView], log });
    va.start();
    vb.start();
    const answer = await va.gather();
    expect([answer.devices.map((d) => d.key), answer.unanswered]).toEqual([['zigbee2mqtt:b1'], []]);
    va.stop();
    vb.stop();
    for (const broker of [a, b]) await new Promise<void>((r) => broker.close(() => r()));
  });
});
