import { describe, expect, it } from 'vitest';
import { merge } from '../../../gateway/devices/cluster-view.js';
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
