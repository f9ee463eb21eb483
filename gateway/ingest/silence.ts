import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.js';
import type { EventBus } from '../core/bus.js';
import type { Clock, ClockTimer } from '../core/clock.js';
import type { DeviceSilenceEvent } from '../core/events.js';
import { isOperatorClear } from '../core/loop-events.js';
import { newEventId } from '../core/ids.js';
import { BoundedMap } from '../core/bounded-map.js';
import type { Store } from '../core/store.js';
import { evictionCounter, type OnEvicted } from '../observability/evictions.js';
import { forgetLeastUseful, type Heard } from './silence-bound.js';

const LOGGED_PER_SWEEP = 20;
const MAX_DEVICES = 100_000;
/** Forgotten at once when full, as a share of maxDevices: one walk over the table per 1/64 of it in newcomers. */
const FORGET_SHARE = 64;
const FORGETTING_COSTS = 'a device forgotten is watched afresh from its next message; one that fell silent meanwhile is not reported';

export interface SilenceWatchOptions {
  readonly bus: EventBus;
  /** Where the alarm transitions are heard, an operator's clear among them (default `bus`; a cluster node: its live bus, every node's). */
  readonly alarms?: EventBus;
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  /** Silent after this long without a word (0 = never watch). */
  readonly offlineAfterMs: number;
  /** …or after this many of the device's usual intervals, when that is longer (a sensor that reports hourly). */
  readonly intervals?: number;
  /** Devices watched at most (100,000); past it, the least useful are forgotten (silence-bound.ts). */
  readonly maxDevices?: number;
  /** Counts the devices forgotten (gateway_memory_evictions_total{map="silence_watch"}). */
  readonly metrics?: Pick<Metrics, 'memoryEvictions'>;
}

/** A device as the stored history left it (gateway.ts seeds the watch with them at start). */
export interface SilenceSeed {
  readonly device: string;
  /** Epoch ms of the last reading or status message stored. */
  readonly lastHeardMs: number;
  /** Its last status was `offline`. */
  readonly away: boolean;
  /** It had been found silent and not heard since. */
  readonly silent: boolean;
}

/**
 * Notices devices that fall silent: a device that sent nothing (reading or status) for
 * OFFLINE_AFTER_MS, or for `intervals` times its usual interval if that is longer, is announced
 * (`deviceSilence`, silent) and stored as `device_status` online=false silent=true; heard again,
 * it is announced and stored as back. A device that said `offline` is not watched until it
 * speaks again. One that said `online` (a last will, a bridge's availability) and sends no
 * readings (a relay, a plug: their state is reported on change) is not called silent until it says
 * offline: its will says when it goes. A device that sends readings is watched for them. The hot path is one Map lookup and a few additions per reading; a timer sweeps.
 * Past maxDevices a newcomer is still watched: the devices that matter least are forgotten.
 */
export class SilenceWatch {
  private readonly devices = new Map<string, Heard>();
  /** "Heard again" lines since the last sweep, and those left out past LOGGED_PER_SWEEP. */
  private backLogged = 0;
  private backUnlogged = 0;
  /**
   * Devices forgotten while reported silent (not a flood's one-shot ids): heard again, they are
   * announced back, or the live page and GET /api/devices would show them silent for good. Ids
   * only, as many as the watch holds; past that the oldest are not announced back.
   */
  private readonly forgottenSilent: BoundedMap<string, true>;
  private readonly off: (() => void)[] = [];
  private timer: ClockTimer | undefined;
  private readonly evicted: OnEvicted | undefined;
  /** When it started listening: nothing could be heard before, so no silence counts from earlier (a restart's gap). */
  private since = 0;

  constructor(private readonly o: SilenceWatchOptions) {
    this.evicted = o.metrics && evictionCounter(o.metrics, o.log, () => o.clock.now());
    this.forgottenSilent = new BoundedMap(o.maxDevices ?? MAX_DEVICES);
  }

  start(): void {
    if (this.o.offlineAfterMs <= 0) return;
    const { bus } = this.o;
    this.since = this.o.clock.now();
    this.off.push(
      bus.on('reading', (r) => this.readingFrom(r.device)),
      bus.on('history', (r) => this.readingFrom(r.device)),
      bus.on('deviceStatus', (s) => {
        if (s.online) this.vouchedFor(s.device);
        else this.wentAway(s.device);
      }),
      (this.o.alarms ?? bus).on('alarm', (t) => {
        if (isOperatorClear(t)) this.removed(t.device);
      }),
    );
    this.schedule();
  }

  stop(): void {
    for (const off of this.off.splice(0)) off();
    if (this.timer) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * What was known before this start (the stored statuses and readings, gateway.ts): a device that
   * had said offline stays unwatched, one found silent is announced back when heard, the others
   * are watched from their last word, their silence counted from this start at the earliest.
   */
  seed(devices: readonly SilenceSeed[]): void {
    if (this.o.offlineAfterMs <= 0) return;
    for (const s of devices) {
      if (this.devices.has(s.device) || this.devices.size >= (this.o.maxDevices ?? MAX_DEVICES)) continue;
      // Stored history says it is real: not a one-shot id.
      this.devices.set(s.device, { last: s.lastHeardMs, interval: undefined, silent: s.silent, away: s.away, once: false });
    }
  }

  private schedule(): void {
    // Often enough that a device is reported within a quarter of OFFLINE_AFTER_MS of falling silent.
    const every = Math.min(15_000, Math.max(50, Math.floor(this.o.offlineAfterMs / 4)));
    this.timer = this.o.clock.setTimeout(() => {
      this.sweep();
      this.schedule();
    }, every);
    this.timer.unref?.();
  }

  /** Its entry, heard now. */
  private heard(device: string): Heard {
    const now = this.o.clock.now();
    const d = this.devices.get(device);
    if (!d) {
      const max = this.o.maxDevices ?? MAX_DEVICES;
      if (this.devices.size >= max) forgetLeastUseful(this.devices, Math.ceil(max / FORGET_SHARE), (id, gone) => this.forgot(id, gone, max));
      const wasSilent = this.forgottenSilent.delete(device);
      const fresh: Heard = { last: now, interval: undefined, silent: false, away: false, once: !wasSilent };
      this.devices.set(device, fresh);
      if (wasSilent) this.announce(device, false, now);
      return fresh;
    }
    // The time it was away (it said offline) says nothing about how often it reports; nor does a
    // silence once its interval is known (a day's outage would widen its window by hours): that
    // gap counts as twice its interval at most, so a device that really slowed down is still learnt.
    const gap = d.silent && d.interval !== undefined ? Math.min(now - d.last, 2 * d.interval) : now - Math.max(d.last, this.since);
    d.interval = d.away ? undefined : d.interval === undefined ? gap : d.interval * 0.8 + gap * 0.2;
    const lastBefore = d.last;
    d.last = now;
    d.away = false;
    d.once = false;
    if (d.silent) {
      d.silent = false;
      this.announce(device, false, now, lastBefore);
    }
    return d;
  }

  private forgot(device: string, gone: Heard, max: number): void {
    this.evicted?.('silence_watch', max, FORGETTING_COSTS);
    if (gone.silent && !gone.once && !gone.away) this.forgottenSilent.set(device, true);
  }

  private wentAway(device: string): void {
    const d = this.devices.get(device);
    if (d) {
      d.away = true;
      d.vouched = false;
    }
  }

  /**
   * An operator cleared an alarm that names it (a detector removed, rules/operator-clear.ts): no
   * longer watched, so it is not called silent for being gone; its next message watches it
   * afresh. One already called silent stays so until it speaks, then is announced back.
   */
  private removed(device: string): void {
    const d = this.devices.get(device);
    if (!d) return;
    this.devices.delete(device);
    if (d.silent) this.forgottenSilent.set(device, true);
    this.o.log.info({ device }, `device ${device} is no longer watched for silence: an operator cleared its alarm (a device removed); watched again once it speaks`);
  }

  /** It said online: heard, and vouched for by its will (or bridge) until it says offline or sends a reading. */
  private vouchedFor(device: string): void {
    this.heard(device).vouched = true;
  }

  /** A device that sends readings is watched for them, whatever its status says. */
  private readingFrom(device: string): void {
    const d = this.heard(device);
    if (d.vouched) d.vouched = false;
  }

  /** Finds the devices silent for longer than they may be. */
  sweep(): void {
    if (this.backUnlogged > 0) this.o.log.info({ more: this.backUnlogged }, `and ${this.backUnlogged} more devices are heard again`);
    [this.backLogged, this.backUnlogged] = [0, 0];
    const now = this.o.clock.now();
    const factor = this.o.intervals ?? 3;
    const fell: string[] = [];
    for (const [device, d] of this.devices) {
      if (d.silent || d.away || d.vouched) continue;
      const allowed = Math.max(this.o.offlineAfterMs, factor * (d.interval ?? 0));
      if (now - Math.max(d.last, this.since) > allowed) {
        d.silent = true;
        fell.push(device);
        this.announce(device, true, d.last);
      }
    }
    // A whole building going quiet (its network is down) is a few lines, not one per device.
    for (const device of fell.slice(0, LOGGED_PER_SWEEP)) {
      const since = new Date(this.devices.get(device)?.last ?? now).toISOString();
      this.o.log.info({ device, lastHeard: since }, `device ${device} is silent: nothing heard from it since ${since}`);
    }
    if (fell.length > LOGGED_PER_SWEEP) this.o.log.info({ more: fell.length - LOGGED_PER_SWEEP }, `and ${fell.length - LOGGED_PER_SWEEP} more devices are silent`);
  }

  /** `heardBeforeMs`: when it was last heard before it spoke again (unknown for one forgotten while silent). */
  private announce(device: string, silent: boolean, lastHeardMs: number, heardBeforeMs?: number): void {
    const timeMs = this.o.clock.now();
    const event: DeviceSilenceEvent = { id: newEventId(), device, silent, lastHeardMs, time: new Date(timeMs).toISOString(), timeMs };
    this.o.store.keep('deviceSilence', event);
    this.o.bus.emit('deviceSilence', event);
    if (silent) return;
    // Said as its silence was: a whole building coming back is a few lines between two sweeps, then a count.
    if (this.backLogged++ >= LOGGED_PER_SWEEP) return void this.backUnlogged++;
    if (heardBeforeMs === undefined) return this.o.log.info({ device }, `device ${device} is heard again (it was silent)`);
    const silentForS = Math.round((timeMs - heardBeforeMs) / 1000);
    this.o.log.info({ device, lastHeard: new Date(heardBeforeMs).toISOString(), silentForS }, `device ${device} is heard again after ${silentForS} s of silence`);
  }
}
