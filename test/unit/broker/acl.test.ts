import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anonymousPrincipal, canPublish, canSubscribe, clientIdAllowed, filterWithin, type Principal } from '../../../gateway/broker/acl.js';
import { topicMatches } from '../../helpers/mqtt.js';

const device: Principal = { name: 't-101', role: 'device', device: 't-101', site: 'hq', zone: 'f1', anonymous: false };
const actuator: Principal = { name: 'hvac', role: 'actuator', device: 'hvac-1', site: 'hq', zone: 'f1', anonymous: false };
const siteActuator: Principal = { name: 'siren', role: 'actuator', site: 'hq', anonymous: false };
const observer: Principal = { name: 'grafana', role: 'observer', anonymous: false };
const admin: Principal = { name: 'ops', role: 'admin', anonymous: false };

describe('canPublish', () => {
  it.each([
    [device, 'sensors/hq/f1/t-101/temperature', true],
    [device, 'devices/t-101/status', true],
    [device, 'sensors/hq/f1/t-102/temperature', false],
    [device, 'sensors/hq/f2/t-101/temperature', false],
    [device, 'sensors/hq/f1/t-101/temperature/x', false],
    [device, 'sensors/hq/f1/t-101/', false],
    [device, 'sensors/hq/f1/t-101', false],
    [device, 'devices/t-102/status', false],
    [device, 'zones/hq/f1/armed', false],
    [device, 'commands/hq/f1/hvac', false],
    [actuator, 'devices/hvac-1/status', true],
    [actuator, 'sensors/hq/f1/hvac-1/power', false],
    [siteActuator, 'devices/siren/status', false],
    [observer, 'sensors/hq/f1/t-101/temperature', false],
    [admin, 'zones/hq/f1/armed', true],
    [admin, 'sensors/any/where/at/all', true],
    [admin, 'commands/hq/f1/hvac', false],
    [admin, 'alerts/hq/critical', false],
    [admin, 'gateway/deadletter', false],
    [admin, 'gateway', false],
    [admin, '$SYS/broker/uptime', false],
  ] as const)('%# %s → %s: %s', (p, topic, allowed) => {
    expect(canPublish(p, topic).ok).toBe(allowed);
  });

  it('tells an actuator whose credential names no device how to give it one', () => {
    expect(canPublish(siteActuator, 'devices/siren/state')).toEqual({
      ok: false,
      why: 'actuator siren names no device, so it may publish nothing: give its credential one (npm run credentials -- add siren --role actuator --device <its id> …) to report devices/<its id>/state',
    });
    expect(canPublish(actuator, 'devices/hvac-2/state')).toEqual({ ok: false, why: 'an actuator publishes only devices/hvac-1/status and …/state' });
  });

  it('refuses everything under commands/, alerts/, gateway/ and $ to every role (property)', () => {
    const roles = fc.constantFrom(device, actuator, siteActuator, observer, admin, anonymousPrincipal('admin'));
    const rest = fc.array(fc.string({ unit: 'grapheme', maxLength: 8 }), { maxLength: 5 }).map((parts) => parts.join('/'));
    fc.assert(
      fc.property(roles, fc.constantFrom('commands/', 'alerts/', 'gateway/', '$', '$SYS/'), rest, (p, root, tail) => {
        expect(canPublish(p, root + tail).ok).toBe(false);
      }),
      { numRuns: 5000 },
    );
  });

  it("lets a device publish exactly one level under its own sensors/ prefix, or its status, nothing else (property)", () => {
    const segment = fc.oneof(fc.constantFrom('hq', 'f1', 't-101', 'temperature', 'status', 'devices', 'sensors', '', '+', '#'), fc.string({ maxLength: 6 }));
    const topic = fc.array(segment, { minLength: 1, maxLength: 7 }).map((s) => s.join('/'));
    const ownKind = /^sensors\/hq\/f1\/t-101\/[^/]+$/;
    fc.assert(
      fc.property(topic, (t) => {
        expect(canPublish(device, t).ok).toBe(ownKind.test(t) || t === 'devices/t-101/status');
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('canSubscribe', () => {
  it.each([
    [device, 'commands/hq/f1/#', true],
    [device, 'commands/hq/f1/hvac', true],
    [device, 'commands/hq/f1/+', true],
    [device, 'commands/hq/f2/#', false],
    [device, 'commands/hq/+/hvac', false],
    [device, 'commands/#', false],
    [device, '#', false],
    [device, 'sensors/hq/f1/t-101/temperature', false],
    [actuator, 'commands/hq/f1/hvac', true],
    [actuator, 'commands/hq/f2/hvac', false],
    [siteActuator, 'commands/hq/+/siren', true],
    [siteActuator, 'commands/other/f1/siren', false],
    [observer, '#', true],
    [observer, '$SYS/#', true],
    [admin, 'sensors/#', true],
  ] as const)('%# %s → %s: %s', (p, filter, allowed) => {
    expect(canSubscribe(p, filter).ok).toBe(allowed);
  });
});

describe('filterWithin', () => {
  const level = fc.constantFrom('a', 'b', 'c', '+', '#');
  const filter = fc.array(level, { minLength: 1, maxLength: 4 }).filter((l) => !l.slice(0, -1).includes('#')).map((l) => l.join('/'));
  const topic = fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));

  it('never says a filter is within a scope when some topic matches the filter and not the scope (property)', () => {
    fc.assert(
      fc.property(filter, filter, fc.array(topic, { minLength: 1, maxLength: 30 }), (f, scope, topics) => {
        if (!filterWithin(f, scope)) return;
        for (const t of topics) if (topicMatches(f, t)) expect(topicMatches(scope, t), `${f} within ${scope}, but ${t}`).toBe(true);
      }),
      { numRuns: 10_000 },
    );
  });

  it('accepts the obvious cases', () => {
    expect(filterWithin('commands/hq/f1/+', 'commands/hq/f1/#')).toBe(true);
    // `#` also matches its parent level (MQTT 3.1.1, 4.7.1.2).
    expect(filterWithin('commands/hq/f1', 'commands/hq/f1/#')).toBe(true);
    expect(filterWithin('commands/hq', 'commands/hq/f1/#')).toBe(false);
    expect(filterWithin('commands/+/f1/hvac', 'commands/hq/#')).toBe(false);
    expect(filterWithin('a/b', 'a/+')).toBe(true);
    expect(filterWithin('a/#', 'a/+')).toBe(false);
  });
});

describe('clientIdAllowed', () => {
  // Every credential's name and every device a credential names.
  const reserved: Record<string, string> = { 't-101': 't-101', hvac: 'hvac', 'hvac-1': 'hvac', siren: 'siren', grafana: 'grafana', ops: 'ops' };
  const reservedBy = (id: string): string | undefined => reserved[id];
  it("ties a device credential to its device's client id", () => {
    expect(clientIdAllowed(device, 't-101', reservedBy).ok).toBe(true);
    expect(clientIdAllowed(device, 't-102', reservedBy).ok).toBe(false);
    expect(clientIdAllowed(device, 't-101:second', reservedBy).ok).toBe(false);
    expect(clientIdAllowed(actuator, 'hvac-1', reservedBy).ok).toBe(true);
    expect(clientIdAllowed(actuator, 'hvac', reservedBy).ok).toBe(false);
  });
  it('lets a credential without a device connect as its name or <name>:<suffix>, nothing else', () => {
    expect(clientIdAllowed(siteActuator, 'siren', reservedBy).ok).toBe(true);
    expect(clientIdAllowed(observer, 'grafana', reservedBy).ok).toBe(true);
    expect(clientIdAllowed(observer, 'grafana:sub', reservedBy).ok).toBe(true);
    expect(clientIdAllowed(observer, 'grafana:', reservedBy).ok).toBe(false);
    expect(clientIdAllowed(observer, 'grafana-1', reservedBy).ok).toBe(false);
    expect(clientIdAllowed(admin, 'anything', reservedBy).ok).toBe(false);
  });
  it("keeps everyone, whatever the role, off another credential's name or device", () => {
    for (const p of [device, actuator, siteActuator, observer, admin, anonymousPrincipal('admin')]) {
      for (const id of Object.keys(reserved)) {
        if (id === (p.device ?? p.name) && !p.anonymous) continue;
        const d = clientIdAllowed(p, id, reservedBy);
        expect(d.ok, `${p.name} as ${id}`).toBe(false);
      }
    }
    expect(clientIdAllowed(observer, 'ops', reservedBy)).toEqual({ ok: false, why: 'client id "ops" is reserved for credential "ops"' });
  });
  it('lets an anonymous client (when allowed) take any id no credential reserves', () => {
    expect(clientIdAllowed(anonymousPrincipal('observer'), 'dashboard-7', reservedBy).ok).toBe(true);
  });
});
