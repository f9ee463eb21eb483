/**
 * What the router has learnt is bounded (devices say it again), but forgetting changes what the
 * gateway does until they do: a Gen1 RGBW2 whose mode is forgotten is commanded on `color/0`
 * whatever its mode. So every entry forgotten is counted in /metrics, and the first said (warn).
 */
import { describe, expect, it } from 'vitest';
import { LearntFacts } from '../../../gateway/devices/learnt.js';
import { EMPTY_MAP } from '../../../gateway/devices/map.js';
import { NativeRouter } from '../../../gateway/devices/router.js';
import { createLogger } from '../../../gateway/observability/log.js';
import { evictionCounter } from '../../../gateway/observability/evictions.js';
import { captureLogs } from '../../helpers/gateway.js';
import { count, testMetrics } from '../../helpers/ports.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';

function observed() {
  const metrics = testMetrics(new ManualClock(0));
  const { lines, stream } = captureLogs();
  return { metrics, lines, evicted: evictionCounter(metrics, createLogger('info', stream)) };
}
const evictions = (metrics: ReturnType<typeof testMetrics>, map: string) => count(metrics, 'gateway_memory_evictions_total', { map });

describe('the bounds of what the router learns', () => {
  it('counts every Shelly light mode forgotten past 10,000 devices in /metrics, and warns once', async () => {
    const { metrics, lines, evicted } = observed();
    const r = new NativeRouter({ zigbee2mqttBaseTopic: 'zigbee2mqtt', discoveryPrefix: 'homeassistant', evicted }, EMPTY_MAP);
    const announce = (i: number) => r.route('shellies/announce', Buffer.from(JSON.stringify({ id: `shellyrgbw2-${i}`, model: 'SHRGBW2', mode: 'white' })), 0);
    for (let i = 0; i < 10_000; i++) announce(i);
    expect(await evictions(metrics, 'shelly_light_modes')).toBe(0);
    for (let i = 10_000; i < 10_003; i++) announce(i);
    expect(r.learnt.shellyLightMode('shellyrgbw2-0')).toBeUndefined();
    expect(await evictions(metrics, 'shelly_light_modes')).toBe(3);
    const warned = lines.filter((l) => l['code'] === 'GW_ERR_MEMORY_BOUND');
    expect(warned).toEqual([expect.objectContaining({ level: 40, map: 'shelly_light_modes', capacity: 10_000 })]);
  });

  it('counts Zigbee2MQTT outputs (bridges), devices seen and keys forgotten, each under its own name', async () => {
    const { metrics, lines, evicted } = observed();
    const learnt = new LearntFacts(evicted);
    for (let i = 0; i < 65; i++) learnt.apply([{ what: 'zigbee2mqttOutput', base: `z2m-${i}`, output: 'attribute' }]);
    for (let i = 0; i < 10_001; i++) learnt.apply([{ what: 'zigbee2mqttJson', base: 'zigbee2mqtt', name: `d${i}` }, { what: 'zigbee2mqttKey', base: 'zigbee2mqtt', name: `d${i}`, key: 'temperature' }]);
    expect(await evictions(metrics, 'zigbee2mqtt_outputs')).toBe(1);
    expect(await evictions(metrics, 'zigbee2mqtt_json_seen')).toBe(1);
    expect(await evictions(metrics, 'zigbee2mqtt_keys')).toBe(1);
    expect(lines.filter((l) => l['code'] === 'GW_ERR_MEMORY_BOUND').map((l) => l['map'])).toEqual(['zigbee2mqtt_outputs', 'zigbee2mqtt_json_seen', 'zigbee2mqtt_keys']);
  });

  it('counts what Zigbee2MQTT devices are (bridge/devices) forgotten past 64 bridges, or 10,000 devices in one list', async () => {
    const { metrics, lines, evicted } = observed();
    const learnt = new LearntFacts(evicted);
    const plug = new Map([['plug', { form: 'switch' as const }]]);
    for (let i = 0; i < 65; i++) learnt.apply([{ what: 'zigbee2mqttDevices', base: `z2m-${i}`, devices: plug }]);
    expect([learnt.zigbee2mqttForm('z2m-0', 'plug', undefined), learnt.zigbee2mqttForm('z2m-64', 'plug', undefined)]).toEqual([undefined, 'switch']);
    const many = new Map(Array.from({ length: 10_001 }, (_, i) => [`d${i}`, { form: 'thermostat' as const }]));
    learnt.apply([{ what: 'zigbee2mqttDevices', base: 'zigbee2mqtt', devices: many }]);
    expect([learnt.zigbee2mqttForm('zigbee2mqtt', 'd0', undefined), learnt.zigbee2mqttForm('zigbee2mqtt', 'd10000', undefined)]).toEqual([undefined, 'thermostat']);
    // Two bridges forgotten (the 65th, then this 66th), and d0.
    expect(await evictions(metrics, 'zigbee2mqtt_forms')).toBe(3);
    expect(lines.filter((l) => l['code'] === 'GW_ERR_MEMORY_BOUND').map((l) => l['map'])).toEqual(['zigbee2mqtt_forms']);
  });
});
