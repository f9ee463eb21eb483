/**
 * The live view's push cadence, with the clock in the test's hands: whatever happens between
 * two pushes reaches viewers as one message, one entry per device with its latest values.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../../gateway/core/bus.js';
import type { Clock, ClockTimer } from '../../../gateway/core/clock.js';
import type { ReadingEvent } from '../../../gateway/core/events.js';
import { LiveView, type DeviceState } from '../../../gateway/http/live.js';
import { Metrics } from '../../../gateway/observability/metrics.js';
import { HttpServer } from '../../../gateway/http/server.js';
import { createLogger } from '../../../gateway/observability/log.js';
import { openSse, type SseStream } from '../../helpers/sse.js';
import { waitFor } from '../../helpers/wait.js';

/** setTimeout that runs only when the test says so. */
function manualClock(): Clock & { due: number; runDue(): void } {
  let timers: { fn: () => void; unref(): void }[] = [];
  return {
    now: () => Date.now(),
    setTimeout(fn): ClockTimer {
      const t = { fn, unref: () => undefined };
      timers.push(t);
      return t;
    },
    clearTimeout(t) {
      timers = timers.filter((x) => x !== t);
    },
    get due() {
      return timers.length;
    },
    runDue() {
      const run = timers;
      timers = [];
      for (const t of run) t.fn();
    },
  };
}

function reading(device: string, value: number, i: number): ReadingEvent {
  const t = Date.now() + i;
  return { id: `${device}-${i}`, type: 'sensor.temperature', source: `s/z/${device}`, time: new Date(t).toISOString(), receivedAt: new Date(t).toISOString(), seq: i, site: 's', zone: 'z', device, kind: 'temperature', value, numeric: value, timeMs: t, clientId: device };
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup() {
  const log = createLogger('silent');
  const bus = new EventBus(log);
  const clock = manualClock();
  const metrics = new Metrics({ spool: () => ({ bytes: 0, events: 0, oldestAppendedAt: undefined }), connectedClients: () => 0, influxUp: () => true, now: () => Date.now() });
  const live = new LiveView({ bus, clock, log, metrics, pushMs: 1000 });
  live.start();
  const http = new HttpServer({ log, host: '127.0.0.1', port: 0, metrics, readiness: () => ({ ready: true, checks: {} }), routes: live.routes() });
  const port = await http.start();
  cleanup.push(() => http.stop(), () => live.stop());
  const sse: SseStream = await openSse(`http://127.0.0.1:${port}/live/events`);
  cleanup.push(() => sse.close());
  await sse.next((m) => m.event === 'snapshot', 'the snapshot');
  // The server adds the viewer right after writing the snapshot; wait until it counts it.
  await waitFor(async () => (await metrics.registry.getSingleMetric('gateway_live_viewers')?.get())?.values[0]?.value === 1, 'the viewer to be registered');
  return { bus, clock, sse };
}

describe('LiveView', () => {
  it('coalesces a burst of readings into one push with each device’s latest value', async () => {
    const { bus, clock, sse } = await setup();
    for (let i = 0; i < 500; i++) bus.emit('reading', reading(`d${i % 5}`, i, i));
    expect(clock.due).toBe(1);
    clock.runDue();
    const m = await sse.next((x) => x.event === 'update', 'the update');
    const devices = (JSON.parse(m.data) as { devices: DeviceState[] }).devices;
    expect(devices.map((d) => d.device).sort()).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
    expect(devices.find((d) => d.device === 'd4')?.readings['temperature']?.value).toBe(499);
    expect(sse.messages.filter((x) => x.event === 'update')).toHaveLength(1);
  });

  it('sends nothing when nothing changed, and schedules no timer', async () => {
    const { bus, clock, sse } = await setup();
    expect(clock.due).toBe(0);
    bus.emit('reading', reading('only', 1, 1));
    clock.runDue();
    await sse.next((x) => x.event === 'update', 'the update');
    expect(clock.due).toBe(0);
  });
});
