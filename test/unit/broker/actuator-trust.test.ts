/**
 * Which clients a command subscription may make an actuator (gateway/broker/actuator-trust.ts):
 * a `device` credential is not one where the zone's actuators have `actuator` credentials of their
 * own (that site and zone, that site and no zone, or no site at all); everyone else is, as before.
 */
import type { Client } from 'aedes';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { actuatorTrust } from '../../../gateway/broker/actuator-trust.js';
import { anonymousPrincipal, type Principal } from '../../../gateway/broker/acl.js';
import type { Credential } from '../../../gateway/broker/credentials.js';
import { captureLogs } from '../../helpers/gateway.js';

const credential = (c: Omit<Credential, 'hash' | 'createdAt'>): Credential => ({ ...c, hash: 'x', createdAt: '2024-01-01T00:00:00Z' });
const device = (name: string, site: string, zone: string): Principal => ({ name, role: 'device', device: name, site, zone, anonymous: false });
const client = (id: string) => ({ id }) as Client;
const hvac = (site: string, zone: string) => ({ ref: { site, zone, actuator: 'hvac' }, topic: `commands/${site}/${zone}/hvac` });

function setup(credentials: Credential[], principals: Record<string, Principal>) {
  const { lines, stream } = captureLogs();
  let now = 0;
  const store = { generation: 1, list: () => credentials };
  const trust = actuatorTrust({ principal: (c) => principals[c.id], store, log: pino({ level: 'warn' }, stream), now: () => now });
  const ask = (id: string, site: string, zone: string) => {
    const { ref, topic } = hvac(site, zone);
    return trust(client(id), ref, topic);
  };
  return { ask, lines, store, credentials, later: (ms: number) => (now += ms) };
}

describe('actuator trust', () => {
  it('refuses a device credential where an actuator credential covers its zone, by site and zone or by site alone', () => {
    const t = setup(
      [credential({ name: 'hvac-f1', role: 'actuator', device: 'hvac-f1', site: 'hq', zone: 'f1' }), credential({ name: 'lab-hvac', role: 'actuator', site: 'lab' }), credential({ name: 'any-hvac', role: 'actuator' })],
      { 't-101': device('t-101', 'hq', 'f1'), 'stat-2': device('stat-2', 'hq', 'f2'), 't-301': device('t-301', 'lab', 'z1') },
    );
    expect(t.ask('t-101', 'hq', 'f1')).toContain('hq/f1\'s actuators have their own credentials (hvac-f1, any-hvac)');
    expect(t.ask('t-301', 'lab', 'z1')).toContain('(lab-hvac, any-hvac)');
    // An actuator credential with no site may take every zone's commands: it covers hq/f2 too.
    expect(t.ask('stat-2', 'hq', 'f2')).toContain('(any-hvac)');
    // Without it, no actuator credential covers hq/f2: a combined thermostat is its actuator.
    const combined = setup([credential({ name: 'hvac-f1', role: 'actuator', device: 'hvac-f1', site: 'hq', zone: 'f1' })], { 'stat-2': device('stat-2', 'hq', 'f2') });
    expect(combined.ask('stat-2', 'hq', 'f2')).toBeUndefined();
  });

  it('leaves actuator, admin, bridge, native and anonymous clients as they were', () => {
    const t = setup([credential({ name: 'hvac-f1', role: 'actuator', device: 'hvac-f1', site: 'hq', zone: 'f1' })], {
      'hvac-f1': { name: 'hvac-f1', role: 'actuator', device: 'hvac-f1', site: 'hq', zone: 'f1', anonymous: false },
      ops: { name: 'ops', role: 'admin', anonymous: false },
      z2m: { name: 'z2m', role: 'bridge', anonymous: false },
      plug: { name: 'plug', role: 'native', anonymous: false },
      anon: anonymousPrincipal('device'),
    });
    for (const id of ['hvac-f1', 'ops', 'z2m', 'plug', 'anon', 'not-authenticated']) expect(t.ask(id, 'hq', 'f1')).toBeUndefined();
  });

  it('warns once per credential and topic (again after ten minutes, with how many were left out), and follows the credentials as they change', () => {
    const t = setup([credential({ name: 'hvac-f1', role: 'actuator', site: 'hq', zone: 'f1' })], { 't-101': device('t-101', 'hq', 'f1') });
    for (let i = 0; i < 3; i++) expect(t.ask('t-101', 'hq', 'f1')).toBeDefined();
    expect(t.lines).toHaveLength(1);
    expect(t.lines[0]).toMatchObject({ level: 40, code: 'GW_ERR_ACCESS', credential: 't-101', clientId: 't-101', topic: 'commands/hq/f1/hvac', actuatorCredentials: ['hvac-f1'] });
    t.later(10 * 60_000);
    t.ask('t-101', 'hq', 'f1');
    expect(t.lines).toHaveLength(2);
    expect(t.lines[1]).toMatchObject({ credential: 't-101', suppressed: 2 });
    // The actuator credential removed: the device is its zone's actuator again.
    t.credentials.splice(0);
    t.store.generation++;
    expect(t.ask('t-101', 'hq', 'f1')).toBeUndefined();
  });
});
