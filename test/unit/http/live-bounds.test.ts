/**
 * The live page under events for ever-new zones and actuators (a flood of made-up ids, or a
 * misconfigured fleet): what it remembers of actuators' commands, armed zones and actuators'
 * reports, and the changes waiting for the next push, stay within LiveViewOptions.maxKeys; the
 * entry changed longest ago is forgotten first, counted in gateway_memory_evictions_total{map}.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../../gateway/core/bus.js';
import type { ActuatorStateEvent, CommandEvent, ZoneArmedEvent } from '../../../gateway/core/events.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import { LiveView, type LiveSnapshot } from '../../../gateway/http/live.js';
import { createLogger } from '../../../gateway/observability/log.js';
import { count, testMetrics } from '../../helpers/ports.js';

class FakeResponse extends EventEmitter {
  writableLength = 0;
  destroyed = false;
  readonly written: string[] = [];
  writeHead() {
    return this;
  }
  write(chunk: string | Buffer) {
    this.written.push(String(chunk));
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

function setup(maxKeys: number) {
  const log = createLogger('silent');
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 9));
  const metrics = testMetrics(clock);
  const bus = new EventBus(log);
  const live = new LiveView({ bus, clock, log, metrics, pushMs: 250, maxKeys });
  live.start();
  const at = { time: new Date(clock.now()).toISOString(), timeMs: clock.now() };
  const command = (i: number) => ({ kind: 'command', id: `c${i}`, topic: `commands/hq/z${i}/hvac`, site: 'hq', zone: `z${i}`, actuator: 'hvac', rule: 'cool', cloudEvent: { data: { mode: 'cool' }, correlationid: `r${i}` }, ...at }) as unknown as CommandEvent;
  const armed = (i: number): ZoneArmedEvent => ({ id: `a${i}`, site: 'hq', zone: `z${i}`, armed: true, ...at });
  const reported = (i: number): ActuatorStateEvent => ({ id: `s${i}`, site: 'hq', zone: `z${i}`, actuator: 'fan', state: { on: true }, device: `fan${i}`, clientId: undefined, ...at });
  const flood = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      bus.emit('command', command(i));
      bus.emit('zoneArmed', armed(i));
      bus.emit('actuatorState', reported(i));
    }
  };
  const viewer = (): FakeResponse => {
    const req = Object.assign(new EventEmitter(), { method: 'GET', socket: { remoteAddress: '10.0.0.1' } });
    const res = new FakeResponse();
    void live.routes().get('/live/events')!(req as unknown as IncomingMessage, res as unknown as ServerResponse, { name: 'anonymous', role: undefined });
    return res;
  };
  return { live, metrics, clock, flood, viewer };
}

const sizes = (s: Pick<LiveSnapshot, 'actuators' | 'armed' | 'reported'>) => [Object.keys(s.actuators).length, Object.keys(s.armed).length, Object.keys(s.reported).length];

describe('the live page under events for ever-new zones and actuators', () => {
  it('remembers at most maxKeys actuators, armed zones and reports, the latest kept, each one forgotten counted', async () => {
    const { live, metrics, flood } = setup(20);
    flood(0, 1000);
    const snapshot = live.snapshot();
    expect(sizes(snapshot)).toEqual([20, 20, 20]);
    expect(Object.keys(snapshot.armed)).toContain('hq/z999');
    expect(Object.keys(snapshot.armed)).not.toContain('hq/z979');
    for (const map of ['live_actuators', 'live_armed', 'live_reported']) expect(await count(metrics, 'gateway_memory_evictions_total', { map })).toBe(980);
  });

  it('holds at most maxKeys changes of each for the next push', () => {
    const { flood, viewer, clock } = setup(20);
    const res = viewer();
    flood(0, 1000);
    clock.fireNext(clock.now() + 250);
    const update = res.written.find((w) => w.startsWith('event: update'));
    const data = JSON.parse(update!.split('data: ')[1]!) as LiveSnapshot;
    expect(sizes(data)).toEqual([20, 20, 20]);
    expect(Object.keys(data.reported)).toContain('hq/z999/fan');
  });

  it('forgets nothing below the bound', async () => {
    const { live, metrics, flood } = setup(1000);
    flood(0, 1000);
    expect(sizes(live.snapshot())).toEqual([1000, 1000, 1000]);
    expect(await count(metrics, 'gateway_memory_evictions_total')).toBe(0);
  });
});
