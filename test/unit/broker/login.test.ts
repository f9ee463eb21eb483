/**
 * The one login check MQTT and HTTP share (gateway/broker/login.ts), with a real credential
 * store (real scrypt) and the time in the test's hands: the right secret is never locked out,
 * unknown usernames are limited per address without a check, and the checks waiting are bounded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CredentialStore } from '../../../gateway/broker/credentials.js';
import { LoginGuard, type LoginOptions } from '../../../gateway/broker/login.js';
import { ManualClock } from '../../../gateway/core/manual-clock.js';

let dir: string;
let store: CredentialStore;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gw-login-'));
  store = new CredentialStore(join(dir, 'credentials.json'));
  await store.add({ name: 'dev', role: 'device', device: 'dev', site: 'hq', zone: 'f1' }, 'right-secret-dev');
  await store.add({ name: 'other', role: 'observer' }, 'right-secret-other');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function guard(o: Partial<LoginOptions> = {}) {
  const clock = new ManualClock(0);
  return { clock, login: new LoginGuard({ store, backoffAfter: 2, backoffMaxMs: 60_000, unknownBurst: 3, unknownPerMin: 6, maxQueuedChecks: 64, now: () => clock.now(), ...o }) };
}
const secret = (s: string) => Buffer.from(s);

describe('LoginGuard', () => {
  it('never refuses a right secret it has checked before, even while that username backs off from that address', async () => {
    const { login } = guard();
    expect(await login.check('10.0.0.1', 'dev', secret('right-secret-dev'))).toMatchObject({ ok: true });
    expect(await login.check('10.0.0.1', 'dev', secret('wrong-1'))).toMatchObject({ ok: false, reason: 'bad_credentials' });
    expect(await login.check('10.0.0.1', 'dev', secret('wrong-2'))).toMatchObject({ ok: false, reason: 'bad_credentials' });
    expect(await login.check('10.0.0.1', 'dev', secret('wrong-3'))).toMatchObject({ ok: false, reason: 'login_backoff' });
    expect(await login.check('10.0.0.1', 'dev', secret('right-secret-dev'))).toMatchObject({ ok: true });
  });

  it('backs off per address and username: another username, or the same from another address, is still checked', async () => {
    const { login, clock } = guard();
    for (const s of ['w1', 'w2']) await login.check('10.0.0.2', 'other', secret(s));
    // Not yet checked right since the start: refused while backing off, without a check.
    expect(await login.check('10.0.0.2', 'other', secret('right-secret-other'))).toMatchObject({ ok: false, reason: 'login_backoff' });
    expect(await login.check('10.0.0.3', 'other', secret('right-secret-other'))).toMatchObject({ ok: true });
    expect(await login.check('10.0.0.2', 'dev', secret('wrong'))).toMatchObject({ ok: false, reason: 'bad_credentials' });
    clock.advanceBy(1000);
    expect(await login.check('10.0.0.2', 'other', secret('right-secret-other'))).toMatchObject({ ok: true });
  });

  it('refuses unknown usernames from an address past LOGIN_UNKNOWN_USER_BURST without a check, refilled at LOGIN_UNKNOWN_USER_PER_MIN; known ones pass', async () => {
    const { login, clock } = guard();
    for (let i = 0; i < 3; i++) expect(await login.check('10.0.0.4', `nobody-${i}`, secret('x'))).toMatchObject({ ok: false, reason: 'bad_credentials' });
    const verify = vi.spyOn(store, 'verify');
    expect(await login.check('10.0.0.4', 'nobody-3', secret('x'))).toMatchObject({ ok: false, reason: 'login_backoff' });
    // No scrypt was paid for it.
    expect(verify).not.toHaveBeenCalled();
    verify.mockRestore();
    expect(await login.check('10.0.0.4', 'dev', secret('right-secret-dev'))).toMatchObject({ ok: true });
    expect(await login.check('10.0.0.5', 'nobody-4', secret('x'))).toMatchObject({ ok: false, reason: 'bad_credentials' });
    clock.advanceBy(10_000);
    expect(await login.check('10.0.0.4', 'nobody-5', secret('x'))).toMatchObject({ ok: false, reason: 'bad_credentials' });
  });

  it('answers overloaded rather than queueing past LOGIN_MAX_QUEUED_CHECKS (a quarter of it per address)', async () => {
    const { login } = guard({ maxQueuedChecks: 4 });
    // One per address: the second from the same address, while the first is checked, is refused.
    const first = login.check('10.0.0.6', 'other', secret('not-cached-1'));
    expect(await login.check('10.0.0.6', 'dev', secret('not-cached-2'))).toMatchObject({ ok: false, reason: 'login_overloaded' });
    const others = ['10.0.0.7', '10.0.0.8', '10.0.0.9'].map((a) => login.check(a, 'other', secret(`x-${a}`)));
    expect(await login.check('10.0.0.10', 'other', secret('y'))).toMatchObject({ ok: false, reason: 'login_overloaded' });
    await Promise.all([first, ...others]);
    expect(login.pending).toBe(0);
    expect(await login.check('10.0.0.10', 'other', secret('right-secret-other'))).toMatchObject({ ok: true });
  });
});
