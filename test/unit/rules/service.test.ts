/**
 * The rules service on the ManualClock, with the store and the publisher faked: what a firing
 * publishes, keeps and announces, arming from code, and the overload counter.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../../gateway/core/bus.js';
import type { AlertEvent, CommandEvent, ReadingEvent, ZoneArmedEvent } from '../../../gateway/core/events.js';
import { kindSpec, type Kind, type ReadingValue } from '../../../gateway/core/kinds.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';
import type { Publisher } from '../../../gateway/core/publisher.js';
import { RulesService } from '../../../gateway/rules/service.js';
import { MAX_RULES_BACKLOG } from '../../../gateway/rules/runtime.js';
import { captureLogs } from '../../helpers/gateway.js';
import { RecordingPublisher, RecordingStore, count, testMetrics } from '../../helpers/ports.js';

const START = Date.parse('2026-11-27T10:00:00.000Z');

const PACK = {
  rules: [
    {
      name: 'cool',
      kinds: ['temperature'],
      conditions: { all: [{ fact: 'value', operator: 'greaterThan', value: 26 }] },
      event: { type: 'command', params: { actuator: 'hvac', type: 'hvac.set', data: { mode: 'cool', setpoint: 22 } } },
    },
    {
      name: 'cool-held',
      kinds: ['co2'],
      conditions: { all: [{ fact: 'heldFor', params: { operator: 'greaterThan', value: 1000, for: '5m' }, operator: 'equal', value: true }] },
      event: { type: 'command', params: { actuator: 'vent', data: { on: true } } },
    },
    {
      name: 'intrusion',
      kinds: ['contact'],
      conditions: { all: [{ fact: 'value', operator: 'equal', value: true }, { fact: 'armed', operator: 'equal', value: true }] },
      event: { type: 'alert', params: { severity: 'critical', message: '{{device}} opened in {{zone}}', type: 'security.intrusion' } },
    },
  ],
};

const dirs: string[] = [];
const services: RulesService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function setup(o: { publisher?: Publisher; armedFile?: boolean; pack?: object } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'gw-rules-service-'));
  dirs.push(dir);
  const rulesDir = join(dir, 'rules');
  await mkdir(rulesDir);
  await writeFile(join(rulesDir, 'pack.json'), JSON.stringify(o.pack ?? PACK));
  const clock = new ManualClock(START);
  const { lines, stream } = captureLogs();
  const log = pino({ level: 'info' }, stream);
  const store = new RecordingStore();
  const recorder = new RecordingPublisher();
  const bus = new EventBus(log);
  const metrics = testMetrics(clock);
  const armedFile = o.armedFile ? join(dir, 'armed-zones.json') : undefined;
  const service = new RulesService({ bus, publisher: o.publisher ?? recorder, store, metrics, log, clock, rulesDir, watchRules: false, armedFile });
  services.push(service);
  await service.start();
  const announced: (CommandEvent | AlertEvent | ZoneArmedEvent)[] = [];
  bus.on('command', (e) => void announced.push(e));
  bus.on('alert', (e) => void announced.push(e));
  bus.on('zoneArmed', (e) => void announced.push(e));
  let n = 0;
  const reading = (source: string, kind: Kind, value: ReadingValue): ReadingEvent => {
    const [site = '', zone = '', device = ''] = source.split('/');
    const time = new Date(clock.now()).toISOString();
    return { id: `reading-${++n}`, type: `sensor.${kind}`, source, time, receivedAt: time, seq: undefined, site, zone, device, kind, value, numeric: kindSpec(kind)!.toNumber(value), timeMs: clock.now(), clientId: undefined };
  };
  /** A current reading from ingest; returns once the rules have run it. */
  const send = async (r: ReadingEvent): Promise<ReadingEvent> => {
    bus.emit('reading', r);
    await service.idle();
    return r;
  };
  /** Moves the clock, running the rules each due timer wakes at its time. */
  const advanceTo = async (ms: number): Promise<void> => {
    await service.idle();
    while (clock.fireNext(ms)) await service.idle();
    clock.advanceTo(ms);
  };
  return { clock, lines, store, publisher: recorder, bus, metrics, service, announced, reading, send, advanceTo, armedFile };
}

describe('RulesService', () => {
  it('publishes a firing as a CloudEvent command correlated with its reading, keeps it and announces it', async () => {
    const { publisher, store, send, reading, announced, metrics, lines } = await setup();
    const r = await send(reading('hq/f1/t-101', 'temperature', 28.5));

    expect(publisher.published.map((p) => [p.topic, p.qos])).toEqual([['commands/hq/f1/hvac', 1]]);
    const cloudEvent = publisher.json('commands/')[0];
    expect(cloudEvent).toEqual({
      specversion: '1.0',
      id: expect.any(String),
      type: 'hvac.set',
      source: 'rules/cool',
      subject: 'hq/f1/hvac',
      time: new Date(START).toISOString(),
      datacontenttype: 'application/json',
      correlationid: r.id,
      data: { mode: 'cool', setpoint: 22 },
    });
    const [kept] = store.kept;
    expect(kept).toMatchObject({ name: 'command', always: true, event: { kind: 'command', id: cloudEvent?.['id'], topic: 'commands/hq/f1/hvac', site: 'hq', zone: 'f1', actuator: 'hvac', rule: 'cool', timeMs: START } });
    expect(announced).toEqual([kept?.event]);
    expect(await count(metrics, 'gateway_commands_total', { actuator: 'hvac' })).toBe(1);
    expect(await count(metrics, 'gateway_rule_firings_total', { rule: 'cool' })).toBe(1);
    expect(lines.find((l) => l.msg === 'command')).toMatchObject({ eventId: cloudEvent?.['id'], correlationId: r.id, rule: 'cool', topic: 'commands/hq/f1/hvac' });
  });

  it('keeps commands (and their saga’s first step) even with the store full', async () => {
    const { store, send, reading, publisher } = await setup();
    store.full = true;
    await send(reading('hq/f1/t-101', 'temperature', 28.5));
    expect(store.kept.map((k) => [k.name, k.always])).toEqual([
      ['command', true],
      ['commandStatus', true],
    ]);
    expect(publisher.published).toHaveLength(1);
  });

  it('does not send an actuator the state it is already in', async () => {
    const { send, reading, publisher, metrics } = await setup();
    await send(reading('hq/f1/t-101', 'temperature', 28.5));
    await send(reading('hq/f1/t-102', 'temperature', 29));
    expect(publisher.published).toHaveLength(1);
    expect(await count(metrics, 'gateway_commands_suppressed_total', { actuator: 'hvac' })).toBe(1);
  });

  it('does not rule history', async () => {
    const { bus, send, reading, publisher } = await setup();
    bus.emit('history', reading('hq/f1/t-101', 'temperature', 28.5));
    // Had the history reading been ruled, the command would be its, and this one's suppressed.
    const current = await send(reading('hq/f1/t-102', 'temperature', 29));
    expect(publisher.json('commands/').map((c) => c['correlationid'])).toEqual([current.id]);
  });

  it('fires a held-for rule when the time is up on the clock, with no new reading', async () => {
    const { send, reading, publisher, advanceTo, metrics } = await setup();
    const r = await send(reading('hq/f1/c-1', 'co2', 1200));
    await advanceTo(START + 299_999);
    expect(publisher.published).toEqual([]);
    await advanceTo(START + 300_000);
    expect(publisher.json('commands/hq/f1/vent')).toEqual([expect.objectContaining({ time: new Date(START + 300_000).toISOString(), correlationid: r.id, data: { on: true } })]);
    expect(await count(metrics, 'gateway_rule_wakeups_total', { type: 'watch' })).toBe(1);
  });

  it('keeps a held-for time running when its pack is deleted and put back, as a restart would', async () => {
    const { send, reading, publisher, advanceTo, service, clock } = await setup();
    const inForce: number[] = [];
    service.onRules((set) => void inForce.push(set.rules.length));
    const r = await send(reading('hq/f1/c-1', 'co2', 1200));
    const file = join(dirs.at(-1)!, 'rules', 'pack.json');
    await advanceTo(START + 60_000);
    await rm(file);
    await service.kindsChanged();
    expect(inForce).toEqual([0]);
    await advanceTo(START + 61_500);
    await writeFile(file, JSON.stringify(PACK));
    await service.kindsChanged();
    await advanceTo(START + 299_999);
    expect(publisher.published).toEqual([]);
    await advanceTo(START + 300_000);
    expect(clock.now()).toBe(START + 300_000);
    expect(publisher.json('commands/hq/f1/vent')).toEqual([expect.objectContaining({ time: new Date(START + 300_000).toISOString(), correlationid: r.id, data: { on: true } })]);
  });

  it('starts a held-for rule loaded later from the latest reading, and not from one that breaks it', async () => {
    const { send, reading, publisher, advanceTo, service } = await setup({ pack: { rules: [PACK.rules[0]] } });
    const held = await send(reading('hq/f1/c-1', 'co2', 1200));
    await send(reading('hq/f2/c-2', 'co2', 1300));
    await advanceTo(START + 10_000);
    await send(reading('hq/f2/c-2', 'co2', 600));
    await writeFile(join(dirs.at(-1)!, 'rules', 'pack.json'), JSON.stringify(PACK));
    await service.kindsChanged();
    await advanceTo(START + 400_000);
    // f1 has been over 1000 since its reading at START; f2's latest reading is under it.
    expect(publisher.json('commands/hq/f1/vent')).toEqual([expect.objectContaining({ time: new Date(START + 300_000).toISOString(), correlationid: held.id })]);
    expect(publisher.json('commands/hq/f2/vent')).toEqual([]);
  });

  it('arms a zone from code: keeps the zone event, announces it, and the next reading sees it', async () => {
    const { service, send, reading, publisher, store, announced, clock, armedFile } = await setup({ armedFile: true });
    await send(reading('hq/f1/door-1', 'contact', true));
    expect(publisher.published).toEqual([]);

    clock.advanceBy(1000);
    const event = service.setArmed('hq', 'f1', true);
    expect(event).toMatchObject({ site: 'hq', zone: 'f1', armed: true, timeMs: START + 1000, time: new Date(START + 1000).toISOString() });
    expect(store.kept).toEqual([{ name: 'zoneArmed', event, always: true }]);
    expect(announced).toEqual([event]);
    await service.idle();
    expect(service.state.isArmed('hq', 'f1')).toBe(true);
    expect(JSON.parse(await readFile(armedFile!, 'utf8'))).toEqual({ 'hq/f1': true });

    const r = await send(reading('hq/f1/door-1', 'contact', true));
    expect(publisher.published.map((p) => [p.topic, p.qos])).toEqual([['alerts/hq/critical', 1]]);
    expect(publisher.json('alerts/')[0]).toMatchObject({
      type: 'security.intrusion',
      source: 'rules/intrusion',
      correlationid: r.id,
      data: { severity: 'critical', message: 'door-1 opened in f1', site: 'hq', zone: 'f1', device: 'door-1', kind: 'contact', value: true },
    });
  });

  it('refuses to arm a zone whose name is not a topic segment', async () => {
    const { service, store } = await setup();
    expect(() => service.setArmed('hq', 'f1/#', true)).toThrow(RangeError);
    expect(store.kept).toEqual([]);
  });

  it('keeps and announces an alert, even with the store full', async () => {
    const { service, send, reading, store, announced, metrics, lines } = await setup();
    service.setArmed('hq', 'f1', true);
    store.full = true;
    await send(reading('hq/f1/door-1', 'contact', true));
    const alert = store.events('alert')[0];
    expect(store.kept.at(-1)).toEqual({ name: 'alert', event: alert, always: true });
    expect(alert).toMatchObject({ kind: 'alert', topic: 'alerts/hq/critical', site: 'hq', severity: 'critical', rule: 'intrusion' });
    expect(announced.at(-1)).toBe(alert);
    expect(await count(metrics, 'gateway_alerts_total', { severity: 'critical' })).toBe(1);
    expect(lines.find((l) => l.msg === 'alert')).toMatchObject({ level: 40, eventId: alert?.id, message: 'door-1 opened in f1' });
  });

  it('logs a command it could not publish, and still keeps it', async () => {
    const publisher: Publisher = { publish: () => Promise.reject(new Error('broker closed')) };
    const { send, reading, store, lines } = await setup({ publisher });
    await send(reading('hq/f1/t-101', 'temperature', 28.5));
    expect(store.events('command')).toHaveLength(1);
    await expect.poll(() => lines.find((l) => l.msg === 'could not publish')).toMatchObject({ level: 50, rule: 'cool', err: { message: 'broker closed' } });
  });

  it('counts readings it had no time to rule once the rules fall too far behind, and says so once', async () => {
    const { bus, service, reading, metrics, lines, publisher } = await setup();
    // The first reading fires (its run is queued); all the others wait behind it.
    bus.emit('reading', reading('hq/f1/t-101', 'temperature', 28.5));
    for (let i = 0; i < MAX_RULES_BACKLOG - 1; i++) bus.emit('reading', reading('hq/f1/t-101', 'temperature', 21));
    expect(await count(metrics, 'gateway_rules_overloaded_total')).toBe(0);
    bus.emit('reading', reading('hq/f1/t-101', 'temperature', 21));
    bus.emit('reading', reading('hq/f1/t-102', 'temperature', 30));
    expect(await count(metrics, 'gateway_rules_overloaded_total')).toBe(2);
    expect(lines.filter((l) => l['code'] === 'GW_ERR_RULES_OVERLOADED')).toHaveLength(1);
    await service.idle();
    // What was queued was ruled; the overloaded hot reading was recorded but not ruled.
    expect(publisher.published.map((p) => p.topic)).toEqual(['commands/hq/f1/hvac']);
    expect(service.state.deviceLatest('hq/f1/t-102', 'temperature')?.value).toBe(30);
  });

  it('counts each time the rules’ cache of routes fills with devices and starts afresh, and says so', async () => {
    // A rule limited to a zone: each device's route is cached (a rule without one needs no cache).
    const pack = { rules: [{ ...PACK.rules[0]!, name: 'cool-f1', conditions: { all: [{ fact: 'zone', operator: 'equal', value: 'f1' }, ...PACK.rules[0]!.conditions.all] } }] };
    const { bus, service, reading, metrics, lines } = await setup({ pack });
    const reset = (l: Record<string, unknown>): boolean => String(l['msg']).startsWith('the rules\' cache of which rules serve which device filled');
    // The cache holds 50,000 (device and kind): made-up devices fill it; none fires.
    for (let i = 0; i < 50_000; i++) bus.emit('reading', reading(`hq/f1/fake-${i}`, 'temperature', 21));
    await service.idle();
    expect(await count(metrics, 'gateway_rule_routes_reset_total')).toBe(0);
    bus.emit('reading', reading('hq/f1/fake-50000', 'temperature', 21));
    bus.emit('reading', reading('hq/f1/fake-0', 'temperature', 21));
    await service.idle();
    expect(await count(metrics, 'gateway_rule_routes_reset_total')).toBe(1);
    expect(lines.filter(reset)).toEqual([expect.objectContaining({ level: 40, routes: 50_000 })]);
  });

  it('forgets the first devices seen past 100,000 made-up ids, counts each one and says so once per burst', async () => {
    const { bus, service, reading, metrics, lines } = await setup();
    const forgot = (l: Record<string, unknown>): boolean => l['code'] === 'GW_ERR_MEMORY_BOUND';
    // The co2 rule holds for 5 min per zone: each made-up zone is watched, with a timer.
    for (let i = 0; i < 100_000; i++) bus.emit('reading', reading(`hq/z${i}/fake-${i}`, 'co2', 1500));
    await service.idle();
    expect(service.state.deviceCount).toBe(100_000);
    expect(await count(metrics, 'gateway_memory_evictions_total')).toBe(0);
    for (let i = 100_000; i < 100_500; i++) bus.emit('reading', reading(`hq/z${i}/fake-${i}`, 'co2', 1500));
    await service.idle();
    expect(service.state.deviceCount).toBe(100_000);
    expect(service.state.zoneCount).toBe(100_000);
    expect(service.runtime.watches.trackCount).toBe(100_000);
    expect(service.runtime.wakeups.size).toBe(100_000);
    for (const map of ['rule_devices', 'rule_zones', 'rule_watches']) expect(await count(metrics, 'gateway_memory_evictions_total', { map })).toBe(500);
    expect(await count(metrics, 'gateway_memory_evictions_total', { map: 'rule_series' })).toBe(0);
    expect(lines.filter(forgot).map((l) => [l['level'], l['map'], l['capacity']])).toEqual([
      [40, 'rule_zones', 100_000],
      [40, 'rule_devices', 100_000],
      [40, 'rule_watches', 100_000],
    ]);
    // The first zone seen was forgotten; the newest is remembered.
    expect(service.state.deviceLatest('hq/z0/fake-0', 'co2')).toBeUndefined();
    expect(service.state.zoneLatest('hq', 'z100499', 'co2')?.value).toBe(1500);
  }, 60_000);

  it('counts rule file loads', async () => {
    const { metrics } = await setup();
    expect(await count(metrics, 'gateway_rule_reloads_total', { result: 'loaded' })).toBe(1);
  });
});
