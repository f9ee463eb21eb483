import { describe, expect, it } from 'vitest';
import { parseTopic } from '../../../gateway/ingest/topic.js';

describe('parseTopic', () => {
  it('reads site, zone, device and kind from a reading topic', () => {
    expect(parseTopic('sensors/hq/f1/t-101/temperature')).toEqual({ route: 'reading', site: 'hq', zone: 'f1', device: 't-101', kind: 'temperature' });
  });

  it('refuses a reading topic with a missing segment, saying how many it got', () => {
    const r = parseTopic('sensors/hq/f1/temperature');
    expect(r).toMatchObject({ route: 'invalid', code: 'invalid_topic' });
    expect(r.route === 'invalid' && r.detail).toContain('got 4');
  });

  it('refuses an unknown kind by name', () => {
    expect(parseTopic('sensors/hq/f1/t1/radiation')).toMatchObject({ route: 'invalid', code: 'unknown_kind', detail: 'unknown kind "radiation"' });
  });

  it.each([
    ['sensors/h q/f1/t1/temperature', 'site'],
    ['sensors/hq//t1/temperature', 'zone'],
    ['sensors/hq/f1/t.1/temperature', 'device'],
    [`sensors/hq/f1/${'x'.repeat(65)}/temperature`, 'device'],
  ])('refuses %s because of its %s segment', (topic, segment) => {
    const r = parseTopic(topic);
    expect(r.route).toBe('invalid');
    expect(r.route === 'invalid' && r.detail).toContain(segment);
  });

  it('accepts 64-character segments with letters, digits, _ and -', () => {
    expect(parseTopic(`sensors/A_b-9/${'z'.repeat(64)}/d/humidity`).route).toBe('reading');
  });

  it('knows device status and zone arming topics', () => {
    expect(parseTopic('devices/t-101/status')).toEqual({ route: 'status', device: 't-101' });
    expect(parseTopic('devices/t-101/battery')).toMatchObject({ route: 'invalid', code: 'invalid_topic' });
    expect(parseTopic('zones/hq/lobby/armed')).toEqual({ route: 'zoneArmed', site: 'hq', zone: 'lobby' });
  });

  it('treats the gateway’s own namespaces as reserved and anything else as unknown', () => {
    expect(parseTopic('commands/hq/f1/hvac').route).toBe('reserved');
    expect(parseTopic('alerts/hq/critical').route).toBe('reserved');
    expect(parseTopic('gateway/deadletter').route).toBe('reserved');
    expect(parseTopic('homeassistant/light/x')).toMatchObject({ route: 'invalid', code: 'unknown_topic' });
  });
});
