/**
 * Guessing keypad codes, bounded (keypad.ts): after KEYPAD_LOCKOUT_FAILURES wrong codes at the
 * keypads of one zone within KEYPAD_LOCKOUT_WINDOW_MS, the zone's keypads are locked out for
 * KEYPAD_LOCKOUT_MS: their presses are refused without a check. A wrong code after a lockout
 * (before a right one) locks it out again for twice as long, up to KEYPAD_LOCKOUT_MAX_MS. A right
 * code clears it all, and so does a quiet KEYPAD_LOCKOUT_MAX_MS after the last lockout ended. By
 * zone, not by keypad: a Zigbee2MQTT name `<site>/<zone>/<device>` places itself, so a new name
 * would be a fresh keypad with fresh guesses; the panel as a whole is held to a multiple of it
 * (a code without zones is good in every zone). At most MAX_ENTRIES entries, the oldest forgotten.
 */
const MAX_ENTRIES = 10_000;

export interface KeypadLockoutSettings {
  /** Wrong codes within the window that lock a keypad out (0 = never). */
  readonly keypadLockoutFailures: number;
  readonly keypadLockoutWindowMs: number;
  readonly keypadLockoutMs: number;
  readonly keypadLockoutMaxMs: number;
}

interface Keypad {
  /** When the wrong codes since the last lockout were typed. */
  failures: number[];
  /** When its last lockout ends (0: none yet). */
  until: number;
  /** How long its next lockout lasts. */
  next: number;
}

export class KeypadLockout {
  private readonly keypads = new Map<string, Keypad>();

  constructor(private readonly s: KeypadLockoutSettings) {}

  /** How long the keypad stays locked out from `now`, ms (0: it is not). */
  lockedFor(keypad: string, now: number): number {
    const k = this.keypads.get(keypad);
    return k && k.until > now ? k.until - now : 0;
  }

  /** A wrong code at the keypad: the lockout it starts, ms (0: none). */
  failed(keypad: string, now: number): number {
    const { keypadLockoutFailures: max, keypadLockoutWindowMs: window, keypadLockoutMs: first, keypadLockoutMaxMs: longest } = this.s;
    if (max === 0) return 0;
    let k = this.keypads.get(keypad);
    if (!k || (k.until > 0 && now - k.until >= longest)) {
      if (!k && this.keypads.size >= MAX_ENTRIES) this.keypads.delete(this.keypads.keys().next().value!);
      this.keypads.set(keypad, (k = { failures: [], until: 0, next: first }));
    }
    k.failures = k.failures.filter((t) => now - t < window);
    k.failures.push(now);
    // Once locked out, one more wrong code is enough: N guesses per back-off would still add up.
    if (k.until === 0 && k.failures.length < max) return 0;
    const period = Math.min(k.next, longest);
    [k.until, k.next, k.failures] = [now + period, Math.min(period * 2, longest), []];
    return period;
  }

  /** A right code at the keypad (never checked while it is locked out): its wrong codes are forgotten. */
  succeeded(keypad: string): void {
    this.keypads.delete(keypad);
  }
}
