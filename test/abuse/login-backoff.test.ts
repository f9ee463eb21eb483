/**
 * Issue 15, situation 8 — login back-off by address. Access.authenticate (gateway/broker/
 * access.ts) counts failed logins per (address, username) and, with 4× the threshold, per
 * address alone; a locked address refuses everyone before their secret is looked at. So 20
 * failed logins with made-up usernames from one address (default LOGIN_BACKOFF_AFTER=5) lock
 * that address out, and a device behind the same NAT or proxy with the right secret gets
 * CONNACK 5.
 *
 * Wanted: back-off per (address, username) for known usernames; unknown usernames limited per
 * address (refused without an scrypt check once over the limit) without blocking a known
 * username from that address whose secret is right.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { metricAs } from '../helpers/abuse.js';
import { addCredentials, connackCode } from '../helpers/auth.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { useTempDirs } from '../helpers/temp-dirs.js';

let gw: TestGateway | undefined;
// Registered before the afterEach below, so it runs after it (hooks run last first): the gateway stops before its DATA_DIR goes.
const tempDir = useTempDirs('gw-abuse-login-');
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

describe('failed logins from one address', () => {
  it('with made-up usernames do not lock out a known username whose secret is right', async () => {
    const dataDir = await tempDir();
    const secrets = await addCredentials(dataDir, [
      { name: 't-101', role: 'device', device: 't-101', site: 'hq', zone: 'f1' },
      { name: 't-102', role: 'device', device: 't-102', site: 'hq', zone: 'f1' },
      { name: 'victim', role: 'device', device: 'victim', site: 'hq', zone: 'f1' },
      // Reads /metrics (which is to require credentials once they exist).
      { name: 'ops', role: 'admin' },
    ]);
    // No refill of the unknown-username allowance during the test: on a loaded machine the 20 checks
    // (scrypt) took long enough for LOGIN_UNKNOWN_USER_PER_MIN's default (6/min) to let the 21st through.
    gw = await startGateway({ dataDir, env: { BIND_HOST: '127.0.0.1', LOGIN_UNKNOWN_USER_PER_MIN: '0' } });

    // 21 made-up usernames from 127.0.0.1 (as in the issue): refused, 4 (bad credentials) or 5 (backing off).
    for (let i = 0; i < 21; i++) {
      expect([4, 5]).toContain(await connackCode(gw.mqttUrl, { username: `nobody-${i}`, password: 'guess', clientId: `nobody-${i}` }));
    }
    // Unknown usernames from that address are now held back…
    expect(await metricAs(gw.httpUrl, 'gateway_refusals_total', { reason: 'login_backoff' }, { name: 'ops', secret: secrets['ops']! })).toBeGreaterThan(0);
    // …but a device with the right secret, from the same address, gets in,
    expect(await connackCode(gw.mqttUrl, { username: 't-101', password: secrets['t-101'], clientId: 't-101' }), 't-101 with its right secret').toBe(0);
    // and a known username with a wrong secret is still checked (4), not refused for the others' failures.
    expect(await connackCode(gw.mqttUrl, { username: 't-102', password: 'wrong', clientId: 't-102' }), 't-102 with a wrong secret').toBe(4);

    // The back-off per address and username still holds: 5 wrong guesses for one name, then even its right secret waits.
    for (let i = 0; i < 5; i++) expect(await connackCode(gw.mqttUrl, { username: 'victim', password: `guess-${i}`, clientId: 'victim' })).toBe(4);
    expect(await connackCode(gw.mqttUrl, { username: 'victim', password: secrets['victim'], clientId: 'victim' })).toBe(5);
  });
});
