/**
 * The live page's limits (gateway/http/live.ts), with fake requests and responses whose unsent
 * bytes the test sets: LIVE_MAX_VIEWERS and LIVE_MAX_VIEWERS_PER_ADDRESS (503, Retry-After,
 * counted), a viewer behind by more than LIVE_MAX_BEHIND_BYTES cut at the write that put it there
 * (not at the next heartbeat), and one snapshot shared by the viewers that connect before it changes.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../../gateway/core/bus.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { LiveView } from '../../../gateway/http/live.js';
import { createLogger } from '../../../gateway/observability/log.js';
import { count, testMetrics } from '../../helpers/ports.js';

class FakeResponse extends EventEmitter {
  status = 0;
  headers: Record<string, string> = {};
  writableLength = 0;
  destroyed = false;
  readonly written: (string | Buffer)[] = [];
  writeHead(status: number, headers: Record<string, string>) {
    this.status = status;
    this.headers = headers;
    return this;
  }
  write(chunk: string | Buffer) {
    this.written.push(chunk);
    return true;
  }
  end() {
    return this;
  }
  destroy() {
    this.destroyed = true;
    this.emit('close');
  }
}

function setup(o: { maxViewers?: number; maxViewersPerAddress?: number; maxBehindBytes?: number } = {}) {
  const log = createLogger('silent');
  const clock = new ManualClock(Date.now());
  const metrics = testMetrics(clock);
  const bus = new EventBus(log);
  const live = new LiveView({ bus, clock, log, metrics, pushMs: 250, ...o });
  live.start();
  const subscribe = live.routes().get('/live/events')!;
  const viewer = (address = '10.0.0.1'): FakeResponse => {
    const req = Object.assign(new EventEmitter(), { method: 'GET', socket: { remoteAddress: address } });
    const res = new FakeResponse();
    void subscribe(req as unknown as IncomingMessage, res as unknown as ServerResponse, { name: 'anonymous', role: undefined });
    return res;
  };
  return { live, metrics, viewer, bus, clock };
}

describe('live page viewers', () => {
  it('are turned away beyond LIVE_MAX_VIEWERS and LIVE_MAX_VIEWERS_PER_ADDRESS with 503 and Retry-After, counted', async () => {
    const { viewer, metrics, live } = setup({ maxViewers: 3, maxViewersPerAddress: 2 });
    expect([viewer('a'), viewer('a')].map((r) => r.status)).toEqual([200, 200]);
    const third = viewer('a');
    expect(third.status).toBe(503);
    expect(third.headers['retry-after']).toBe('10');
    expect(third.headers['content-type']).toBe('application/json');
    expect(viewer('b').status).toBe(200);
    expect(viewer('c').status).toBe(503);
    expect(await count(metrics, 'gateway_live_viewers_refused_total')).toBe(2);
    expect(await count(metrics, 'gateway_live_viewers')).toBe(3);
    live.stop();
  });

  it('is cut at once when a write leaves it more than LIVE_MAX_BEHIND_BYTES behind, and its place is freed', async () => {
    const { viewer, metrics, live, bus, clock } = setup({ maxViewers: 1, maxBehindBytes: 1000 });
    const slow = viewer();
    slow.writableLength = 5000;
    bus.emit('deviceStatus', { id: 'e1', device: 'd-1', online: true, timeMs: clock.now() } as never);
    clock.advanceBy(250);
    expect(slow.destroyed).toBe(true);
    expect(await count(metrics, 'gateway_live_viewers_dropped_total')).toBe(1);
    expect(viewer().status).toBe(200);
    live.stop();
  });

  it('share one snapshot buffer while nothing changed, and get a new one after a change', () => {
    const { viewer, live, bus, clock } = setup();
    const [a, b] = [viewer(), viewer()];
    expect(a.written[0]).toBe(b.written[0]);
    bus.emit('deviceStatus', { id: 'e1', device: 'd-1', online: true, timeMs: clock.now() } as never);
    clock.advanceBy(250);
    const c = viewer();
    expect(c.written[0]).not.toBe(a.written[0]);
    expect(String(c.written[0])).toContain('d-1');
    live.stop();
  });
});

describe('the live snapshot', () => {
  it('shows what changed while nobody watched: a state report after the last viewer left', () => {
    const { viewer, live, bus, clock } = setup();
    const first = viewer();
    first.destroy();
    bus.emit('actuatorState', { id: 'e2', site: 's1', zone: 'z1', actuator: 'valve', device: 'v-1', state: { on: true }, timeMs: clock.now() } as never);
    const next = viewer();
    expect(String(next.written[0])).toContain('s1/z1/valve');
    live.stop();
  });
});
