/**
 * What the rebuild reads from before its window (InfluxHistory.latestBefore) against a real
 * InfluxDB: each series' last point whole and at its own time. `SELECT last(*)` answered with
 * time 0 and each field's last value, from different points when a field was absent from the
 * newest, so a restart kept whichever rule's command sorted first, not the newest.
 */
import { describe, expect, it, inject } from 'vitest';
import type { ActuatorStateEvent, CommandEvent, ZoneArmedEvent } from '../../gateway/core/events.js';
import { InfluxHistory } from '../../gateway/storage/history.js';
import { pointTime } from '../../gateway/storage/line.js';
import { actuatorStatePoint, commandPoint, zoneArmedPoint } from '../../gateway/storage/points.js';
import { uniqueDb } from '../helpers/influx.js';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-28T12:00:00Z');

function command(id: string, rule: string, timeMs: number, state: string, facts?: CommandEvent['facts']): CommandEvent {
  return {
    kind: 'command',
    id,
    timeMs,
    topic: 'commands/hq/f1/hvac',
    site: 'hq',
    zone: 'f1',
    actuator: 'hvac',
    rule,
    cloudEvent: { specversion: '1.0', id, type: 'com.iot-gateway.command.hvac', source: `rules/${rule}`, time: new Date(timeMs).toISOString(), datacontenttype: 'application/json', correlationid: `corr-${id}`, data: { state } },
    facts,
  };
}

async function write(url: string, db: string, lines: string[]): Promise<void> {
  const created = await fetch(`${url}/query?q=${encodeURIComponent(`CREATE DATABASE "${db}"`)}`, { method: 'POST' });
  expect(created.ok).toBe(true);
  const res = await fetch(`${url}/write?db=${db}&precision=ns`, { method: 'POST', body: lines.join('') });
  expect(res.status).toBe(204);
}

describe('InfluxHistory.latestBefore (real InfluxDB)', () => {
  it('reads back an actuator report that came from a device just come back (`came_back`), and one without it as before', async () => {
    const url = inject('influxUrl');
    const db = uniqueDb();
    const report = (id: string, timeMs: number, cameBack?: string): ActuatorStateEvent => ({ id, site: 'hq', zone: 'f1', actuator: 'heater', state: { state: 'off' }, device: 'zigbee2mqtt:z1_plug', time: new Date(timeMs).toISOString(), timeMs, clientId: undefined, ...(cameBack === undefined ? {} : { cameBack }) });
    const back = report('st-back', NOW - 2 * HOUR, 'Zigbee2MQTT device_announce (rejoined)');
    const plain = report('st-plain', NOW - 2 * HOUR + 1_000);
    await write(url, db, [actuatorStatePoint(back, () => pointTime(back.timeMs, 0)), actuatorStatePoint(plain, () => pointTime(plain.timeMs, 0))]);
    const history = new InfluxHistory({ url, database: db });
    const read: ActuatorStateEvent[] = [];
    for await (const page of history.read({ fromMs: NOW - 3 * HOUR, toMs: NOW, types: ['actuatorState'] })) for (const i of page) if (i.type === 'actuatorState') read.push(i.event);
    // What the rebuild replays, and what the trace shows: as it was taken.
    expect(read).toEqual([back, plain]);
    // The newest report of the actuator is the plain one: it does not borrow the older point's field.
    expect((await history.latestBefore(NOW)).find((i) => i.type === 'actuatorState')?.event).toEqual(plain);
  });

  it('gives each actuator its newest command, whole and at its own time, whichever rule sent it', async () => {
    const url = inject('influxUrl');
    const db = uniqueDb();
    const at = (ms: number) => () => pointTime(ms, 0);
    const facts = [{ fact: 'temperature', operator: 'lessThan', value: 18, actual: 17 }] as unknown as CommandEvent['facts'];
    // "a-…" sorts before "z-…": the older command comes first in InfluxDB's answer.
    const older = command('cmd-on', 'a-heat-on', NOW - 3 * HOUR, 'on', facts);
    const newest = command('cmd-off', 'z-heat-off', NOW - 2 * HOUR, 'off');
    // The same rule again, without facts: its point must not borrow the older point's.
    const sameRuleOlder = command('cmd-on-2', 'z-heat-off', NOW - 4 * HOUR, 'on', facts);
    const state: ActuatorStateEvent = { id: 'st-1', site: 'hq', zone: 'f1', actuator: 'hvac', state: { state: 'off' }, device: 'hvac-f1', time: new Date(NOW - 2 * HOUR + 500).toISOString(), timeMs: NOW - 2 * HOUR + 500, clientId: undefined };
    const armed: ZoneArmedEvent = { id: 'arm-1', site: 'hq', zone: 'f1', armed: true, time: new Date(NOW - 5 * HOUR).toISOString(), timeMs: NOW - 5 * HOUR };
    await write(url, db, [
      commandPoint(sameRuleOlder, at(sameRuleOlder.timeMs)),
      commandPoint(older, at(older.timeMs)),
      commandPoint(newest, at(newest.timeMs)),
      actuatorStatePoint(state, at(state.timeMs)),
      zoneArmedPoint(armed, at(armed.timeMs)),
    ]);

    const items = await new InfluxHistory({ url, database: db }).latestBefore(NOW - HOUR);

    const commands = items.filter((i) => i.type === 'command').map((i) => i.event);
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatchObject({ id: 'cmd-off', rule: 'z-heat-off', timeMs: newest.timeMs, cloudEvent: { data: { state: 'off' }, correlationid: 'corr-cmd-off' } });
    expect(commands[0]?.facts).toBeUndefined();
    expect(items.find((i) => i.type === 'actuatorState')?.event).toMatchObject({ id: 'st-1', timeMs: state.timeMs, state: { state: 'off' } });
    expect(items.find((i) => i.type === 'zoneArmed')?.event).toMatchObject({ id: 'arm-1', timeMs: armed.timeMs, armed: true });
    // In time order, as the rebuild replays them.
    expect(items.map((i) => i.event.timeMs)).toEqual([...items.map((i) => i.event.timeMs)].sort((a, b) => a - b));
  });
});
