import { BoundedMap } from '../core/bounded-map.js';
import type { Credential, CredentialStore } from './credentials.js';
import { LoginBackoff, TokenBucket, type Now } from './limits.js';

export interface LoginOptions {
  readonly store: CredentialStore;
  /** Failures per address and username before the back-off (0 = never). */
  readonly backoffAfter: number;
  readonly backoffMaxMs: number;
  /** Unknown usernames per address: a bucket of `unknownBurst`, refilled at `unknownPerMin`. */
  readonly unknownBurst: number;
  readonly unknownPerMin: number;
  /** Secret checks waiting at most in all (beyond: overloaded); a quarter of it, at most 8, per address. */
  readonly maxQueuedChecks: number;
  readonly now?: Now;
}

export type LoginResult =
  | { readonly ok: true; readonly credential: Credential }
  | { readonly ok: false; readonly reason: 'bad_credentials' | 'login_backoff' | 'login_overloaded'; readonly why: string };

/** Addresses remembered for the unknown-username allowance and checks in progress. */
const ADDRESSES = 100_000;
const PER_ADDRESS_CHECKS = 8;

/**
 * One login check for MQTT and HTTP alike, in an order that never locks the right secret out
 * and keeps scrypt's cost bounded under a storm (docs/findings-15.md § 8):
 *
 * 1. a secret already checked since the start (the store's HMAC cache): accepted at once, ~3 µs,
 *    whatever the back-off state; it only ever matches the right secret;
 * 2. the back-off per (address, username): after `backoffAfter` failures, refused for 1 s,
 *    doubling to `backoffMaxMs`, without a check;
 * 3. unknown usernames, per address: once the address's allowance is spent, refused without a
 *    check (known usernames from the same address are not affected);
 * 4. scrypt, at most 2 at once (the store), with at most `maxQueuedChecks` waiting in all and 8
 *    per address; beyond, refused as overloaded (CONNACK 3 / HTTP 503) rather than queued.
 *
 * So per address and 5-minute window, unknown usernames cost at most burst + rate × 5 checks,
 * a known one ~13; over all addresses, memory is bounded by the queue (64 × a closure, 2 × 32 MiB
 * running) and CPU by two of libuv's four threads.
 */
export class LoginGuard {
  private readonly backoff: LoginBackoff;
  private readonly unknown = new BoundedMap<string, TokenBucket>(ADDRESSES);
  private readonly checking = new BoundedMap<string, number>(ADDRESSES);
  private waiting = 0;

  constructor(private readonly o: LoginOptions) {
    this.backoff = new LoginBackoff(o.backoffAfter, o.backoffMaxMs, o.now);
  }

  async check(address: string, username: string, secret: Buffer): Promise<LoginResult> {
    const { store } = this.o;
    const cached = store.cached(username, secret);
    if (cached) return this.succeeded(address, username, cached);
    const userKey = `${address}|${username}`;
    const locked = this.backoff.lockedFor(userKey);
    if (locked > 0) return { ok: false, reason: 'login_backoff', why: `too many failed logins for ${username} from ${address}: refused for ${Math.ceil(locked / 1000)} s more` };
    const known = store.get(username) !== undefined;
    if (!known && !this.unknownAllowed(address)) {
      return { ok: false, reason: 'login_backoff', why: `too many unknown usernames from ${address} (LOGIN_UNKNOWN_USER_BURST, LOGIN_UNKNOWN_USER_PER_MIN): refused without a check` };
    }
    const mine = this.checking.get(address) ?? 0;
    const perAddress = Math.min(PER_ADDRESS_CHECKS, Math.max(1, Math.floor(this.o.maxQueuedChecks / 4)));
    if (this.o.maxQueuedChecks > 0 && (this.waiting >= this.o.maxQueuedChecks || mine >= perAddress)) {
      return { ok: false, reason: 'login_overloaded', why: `${this.waiting} secret checks waiting (${mine} from ${address}), the limit is ${this.o.maxQueuedChecks} (LOGIN_MAX_QUEUED_CHECKS): try again` };
    }
    this.waiting++;
    this.checking.set(address, mine + 1);
    let credential: Credential | undefined;
    try {
      credential = await store.verify(username, secret);
    } finally {
      this.waiting--;
      const left = (this.checking.get(address) ?? 1) - 1;
      if (left > 0) this.checking.set(address, left);
      else this.checking.delete(address);
    }
    if (!credential) {
      this.backoff.failed(userKey);
      return { ok: false, reason: 'bad_credentials', why: known ? 'wrong password' : 'unknown username' };
    }
    return this.succeeded(address, username, credential);
  }

  /** Secret checks waiting or running (for tests and metrics). */
  get pending(): number {
    return this.waiting;
  }

  private succeeded(address: string, username: string, credential: Credential): LoginResult {
    this.backoff.succeeded(`${address}|${username}`);
    return { ok: true, credential };
  }

  private unknownAllowed(address: string): boolean {
    if (this.o.unknownBurst <= 0) return true;
    let bucket = this.unknown.get(address);
    if (!bucket) this.unknown.set(address, (bucket = new TokenBucket(this.o.unknownPerMin / 60, this.o.unknownBurst, this.o.now)));
    return bucket.take();
  }
}
