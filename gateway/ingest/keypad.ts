/**
 * The gateway as the alarm panel of Zigbee2MQTT keypads (Develco/Frient KEPZB-110, Linkind,
 * Centralite 3400, Xfinity…). Such a keypad checks no code: on arm or disarm it sends the code
 * typed, and waits for the panel's answer (zigbee-herdsman-converters fromZigbee
 * `command_arm_with_transaction`, toZigbee `arm_mode`):
 *
 *   <base>/<name>      {"action":"arm_all_zones","action_code":"1234","action_zone":0,"action_transaction":99}
 *   <base>/<name>/set  {"arm_mode":{"transaction":99,"mode":"arm_all_zones"}}   the answer (ZCL armRsp)
 *   <base>/<name>/set  {"arm_mode":{"mode":"arm_all_zones"}}                    the panel's new state
 *
 * With a transaction the answer's mode is one of disarm, arm_day_zones, arm_night_zones,
 * arm_all_zones, invalid_code, not_ready, already_disarmed (constants.armNotification); without
 * one `arm_mode` only sets the panel's state. The code is checked against the hashed keypad codes
 * (keypad-codes.ts) and dropped: a right one arms or disarms the keypad's zone (the device map's)
 * as `zones/<site>/<zone>/armed` does, a wrong one arms nothing; each is a `keypad` reading
 * ok/fail of the keypad, so the security rules count failures. Only once some code exists
 * (else another panel, Home Assistant's, may be answering) and only for a placed keypad.
 */
import type { Logger } from 'pino';
import type { Clock, ClockTimer } from '../core/clock.js';
import type { EventBus } from '../core/bus.js';
import type { Placement } from '../devices/map.js';
import type { Publisher } from '../core/publisher.js';
import type { Metrics } from '../observability/metrics.js';
import type { KeypadCodes } from './keypad-codes.js';
import { KeypadLockout, type KeypadLockoutSettings } from './keypad-lockout.js';

/** The arm modes a keypad sends (ZCL Arm command, constants.armMode 0–3): one armed state per zone here, so every arm mode arms the zone. */
const ARMS: Readonly<Record<string, boolean>> = { disarm: false, arm_day_zones: true, arm_night_zones: true, arm_all_zones: true };
/** The whole panel's lockout key, and how many zones' worth of wrong codes lock it. */
const PANEL = 'panel';
const PANEL_FAILURES = 4;
/** A keypad's panic and emergency buttons (fromZigbee command_panic, command_emergency). */
const ALERTS = new Set(['panic', 'emergency']);

export interface KeypadPress {
  readonly base: string;
  readonly nativeId: string;
  readonly place: Placement;
  readonly action: string;
  readonly transaction: number | undefined;
}

export interface KeypadPanelOptions {
  readonly codes: KeypadCodes;
  readonly publisher: Publisher;
  readonly log: Logger;
  /** Arms or disarms a zone as `zones/<site>/<zone>/armed` does (Ingest.keepArmed): resolves once it is kept. */
  readonly arm: (site: string, zone: string, armed: boolean) => Promise<void> | undefined;
  readonly settings: KeypadSettings;
  readonly metrics: Pick<Metrics, 'keypadRefusals'>;
  /** The gateway's clock. */
  readonly now: () => number;
  /** Runs the exit delays (KEYPAD_EXIT_DELAY_MS); without one a zone is armed at once. */
  readonly clock?: Clock;
  /** Where a zone armed or disarmed otherwise (its topic, HTTP) is heard: it ends the zone's exit delay. */
  readonly bus?: Pick<EventBus, 'on'>;
}

/** The settings of the keypads' panel (README "Keypads"). */
export type KeypadSettings = KeypadLockoutSettings & {
  /** Presses waiting for a code check at most; more are answered not_ready unchecked. */
  readonly keypadMaxQueuedChecks: number;
  /** How long after a right arming code its zone is armed (the way out); 0 = at once. */
  readonly keypadExitDelayMs: number;
};

/** The action and transaction of a keypad's message, read from its payload (its code already redacted). */
export function pressIn(payload: Buffer): { action: string; transaction: number | undefined } | undefined {
  if (payload.length > 4096 || !payload.includes('"action"')) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const { action, action_transaction: transaction } = doc as Record<string, unknown>;
  if (typeof action !== 'string' || !(action in ARMS || ALERTS.has(action))) return undefined;
  return { action, transaction: Number.isInteger(transaction) && (transaction as number) >= 0 && (transaction as number) <= 255 ? (transaction as number) : undefined };
}

export class KeypadPanel {
  private readonly lockout: KeypadLockout;
  /** Presses waiting for their code's check (KeypadCodes checks one at a time), and whether some were refused since none waited. */
  private waiting = 0;
  private busy = false;
  /** Zones arming at a keypad, by site and zone: armed when the exit delay is over, unless a right code comes first. */
  private readonly exits = new Map<string, { readonly timer: ClockTimer; readonly sinceMs: number }>();
  /** The whole panel's wrong codes: a code without zones is good in every zone, so guesses spread over zones add up here. */
  private readonly panelLockout: KeypadLockout;
  /** The code checks, one after another (each reads the lockout the ones before it left). */
  private checks: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: KeypadPanelOptions) {
    this.lockout = new KeypadLockout(o.settings);
    this.panelLockout = new KeypadLockout({ ...o.settings, keypadLockoutFailures: o.settings.keypadLockoutFailures * PANEL_FAILURES });
    // A zone disarmed (or armed) over its topic or HTTP during its exit delay: the delay must not arm it afterwards.
    o.bus?.on('zoneArmed', (z) => this.cancelExit(z.site, z.zone, z.timeMs));
  }

  /** Whether the gateway is the keypads' panel: some keypad code exists (the file read again if it changed). */
  async active(): Promise<boolean> {
    await this.o.codes.refresh();
    return this.o.codes.size > 0;
  }

  /**
   * One press: the code checked, the zone armed or not, the reading kept, the keypad answered. Does
   * nothing (resolves false) while no keypad code exists. `code` is used here and dropped;
   * `record` keeps the keypad's `keypad` reading (ok/fail).
   */
  async press(p: KeypadPress, code: string | undefined, record: (value: 'ok' | 'fail') => Promise<void> | undefined): Promise<boolean> {
    // A place among the presses waiting for a check, taken before anything is awaited (the presses of one socket read come together).
    const queued = this.waiting >= this.o.settings.keypadMaxQueuedChecks;
    if (!queued) this.waiting++;
    let who: string | undefined;
    try {
      const { codes, log } = this.o;
      await codes.refresh();
      if (codes.size === 0) return false;
      const { site, zone, device } = p.place;
      const where = { device, site, zone, keypad: `zigbee2mqtt:${p.nativeId}`, action: p.action };
      if (ALERTS.has(p.action)) {
        // No alert of its own yet (README "Keypads"): said loudly, for whoever reads the log.
        log.warn(where, `keypad ${p.action} pressed at ${device} in ${site}/${zone}`);
        return true;
      }
      const zoneKey = `${site}/${zone}`;
      const locked = this.lockedFor(zoneKey);
      if (locked > 0) return await this.lockedOut(p, where, locked, record);
      if (queued) return await this.overloaded(p, where);
      // One check at a time, the lockout read again just before it: presses that came together are
      // each held to the wrong codes checked before them.
      type Verdict = { readonly is: 'locked'; readonly ms: number } | { readonly is: 'wrong'; readonly ms: number } | { readonly is: 'right'; readonly by: string };
      const verdict = await this.oneAtATime(async (): Promise<Verdict> => {
        const lockedNow = this.lockedFor(zoneKey);
        if (lockedNow > 0) return { is: 'locked', ms: lockedNow };
        const by = await codes.check(code, site, zone);
        return by !== undefined ? { is: 'right', by } : { is: 'wrong', ms: Math.max(this.lockout.failed(zoneKey, this.o.now()), this.panelLockout.failed(PANEL, this.o.now())) };
      });
      if (verdict.is === 'locked') return await this.lockedOut(p, where, verdict.ms, record);
      if (verdict.is === 'wrong') {
        log.warn(where, 'keypad code refused: nothing armed or disarmed');
        if (verdict.ms > 0) log.warn({ ...where, lockoutS: Math.ceil(verdict.ms / 1000) }, 'keypads locked out: too many wrong codes; their presses are refused unchecked until the lockout ends');
        await this.refused(p, record);
        return true;
      }
      who = verdict.by;
      this.lockout.succeeded(zoneKey);
      // Only a code good in every zone clears the whole panel's count: one zone's code would let guesses at the others go on.
      if (this.o.codes.list().find((c) => c.name === who)?.zones === undefined) this.panelLockout.succeeded(PANEL);
      const exitS = ARMS[p.action] && this.exitDelayMs() > 0 ? this.exitDelayMs() / 1000 : undefined;
      log.info({ ...where, by: who, ...(exitS ? { exitDelayS: exitS } : {}) }, !ARMS[p.action] ? 'zone disarmed at its keypad' : exitS ? 'zone arming at its keypad: armed once its exit delay is over' : 'zone armed at its keypad');
    } finally {
      // Once the checks caught up, a new burst is said again.
      if (!queued && --this.waiting === 0) this.busy = false;
    }
    await this.accepted(p, record);
    return true;
  }

  /** A right code: the zone armed (once its exit delay is over) or disarmed, then the keypad answered (not_ready when that could not be kept). */
  private async accepted(p: KeypadPress, record: (value: 'ok') => Promise<void> | undefined): Promise<void> {
    const { site, zone } = p.place;
    const arming = ARMS[p.action]!;
    const delayMs = arming ? this.exitDelayMs() : 0;
    // A right code at any keypad of the zone ends its exit delay: disarmed, or the delay begun anew.
    this.cancelExit(site, zone);
    const [recorded, kept] = await Promise.allSettled([record('ok'), delayMs > 0 ? undefined : this.o.arm(site, zone, arming)]);
    if (kept.status === 'rejected') {
      // Rejected before any answer, the keypad would wait for one in vain and the press be lost unsaid.
      this.o.log.error({ site, zone, keypad: `zigbee2mqtt:${p.nativeId}`, action: p.action, err: (kept.reason as Error).message }, 'the zone could not be armed or disarmed at its keypad: answered not_ready');
      if (p.transaction !== undefined) await this.answer(p, 'not_ready', p.transaction);
      throw kept.reason;
    }
    if (p.transaction !== undefined) await this.answer(p, p.action, p.transaction);
    // Then the panel's state, which the keypad shows and answers its own status queries with
    // (exit_delay: it counts the way out down; toZigbee arm_mode takes it without a transaction only).
    if (delayMs > 0) this.exitLater(p, delayMs);
    await this.answer(p, delayMs > 0 ? 'exit_delay' : p.action, undefined);
    if (recorded.status === 'rejected') throw recorded.reason;
  }

  private exitDelayMs(): number {
    return this.o.clock ? this.o.settings.keypadExitDelayMs : 0;
  }

  /** Ends the zone's exit delay; `atMs`: only one begun by then (a zone armed or disarmed elsewhere, heard on the bus). */
  private cancelExit(site: string, zone: string, atMs = Infinity): void {
    const key = `${site}/${zone}`;
    const exit = this.exits.get(key);
    if (exit === undefined || exit.sinceMs > atMs) return;
    this.o.clock?.clearTimeout(exit.timer);
    this.exits.delete(key);
  }

  /** Arms the zone when its exit delay is over, and sets the keypad's panel state to it. */
  private exitLater(p: KeypadPress, delayMs: number): void {
    const { site, zone } = p.place;
    const key = `${site}/${zone}`;
    const timer = this.o.clock!.setTimeout(() => {
      this.exits.delete(key);
      void Promise.resolve(this.o.arm(site, zone, true)).then(
        () => {
          this.o.log.info({ site, zone, keypad: `zigbee2mqtt:${p.nativeId}`, action: p.action }, 'zone armed at its keypad, its exit delay over');
          return this.answer(p, p.action, undefined);
        },
        (err: unknown) => {
          this.o.log.error({ site, zone, keypad: `zigbee2mqtt:${p.nativeId}`, action: p.action, err: (err as Error).message }, 'the zone could not be armed when its exit delay was over: not armed');
          return this.answer(p, 'not_ready', undefined);
        },
      );
    }, delayMs);
    timer.unref?.();
    this.exits.set(key, { timer, sinceMs: this.o.now() });
  }

  /** How long the zone's keypads stay locked out (theirs, or the whole panel's), ms. */
  private lockedFor(zoneKey: string): number {
    const now = this.o.now();
    return Math.max(this.lockout.lockedFor(zoneKey, now), this.panelLockout.lockedFor(PANEL, now));
  }

  private async lockedOut(p: KeypadPress, where: object, lockedMs: number, record: (value: 'fail') => Promise<void> | undefined): Promise<boolean> {
    this.o.metrics.keypadRefusals.inc({ reason: 'locked_out' });
    this.o.log.warn({ ...where, lockedForS: Math.ceil(lockedMs / 1000) }, 'keypad locked out after wrong codes: press refused, its code not checked');
    await this.refused(p, record);
    return true;
  }

  private oneAtATime<T>(task: () => Promise<T>): Promise<T> {
    const run = this.checks.then(task, task);
    this.checks = run.catch(() => undefined);
    return run;
  }

  private async refused(p: KeypadPress, record: (value: 'fail') => Promise<void> | undefined): Promise<void> {
    await Promise.all([record('fail'), p.transaction === undefined ? undefined : this.answer(p, 'invalid_code', p.transaction)]);
  }

  /** KEYPAD_MAX_QUEUED_CHECKS presses wait for a check already (each one scrypt per code): this one is answered not_ready, unchecked. */
  private async overloaded(p: KeypadPress, where: object): Promise<boolean> {
    this.o.metrics.keypadRefusals.inc({ reason: 'checks_queued' });
    // Said once a burst: a flood of presses must not flood the log too.
    if (!this.busy) this.o.log.warn({ ...where, queued: this.waiting }, 'keypad presses are coming faster than their codes can be checked: refused (not_ready), unchecked, until the checks catch up');
    this.busy = true;
    if (p.transaction !== undefined) await this.answer(p, 'not_ready', p.transaction);
    return true;
  }

  private async answer(p: KeypadPress, mode: string, transaction: number | undefined): Promise<void> {
    const body = { arm_mode: transaction === undefined ? { mode } : { transaction, mode } };
    try {
      await this.o.publisher.publish(`${p.base}/${p.nativeId}/set`, JSON.stringify(body), 1);
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message, keypad: `zigbee2mqtt:${p.nativeId}`, mode }, 'the keypad could not be answered');
    }
  }
}
