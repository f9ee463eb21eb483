import type { Logger } from 'pino';
import type { Alarm } from './alarm.js';
import type { AlarmBook } from './alarms.js';
import type { ZoneState } from './state.js';
import type { Watches } from './watches.js';

/**
 * An operator's clear (`"clear": true`) of an alarm that names a device is for a device that
 * cannot clear it by itself: a smoke detector removed while in alarm. The rules then treat the
 * device as removed: its latest readings no longer count in site and zone facts (else its last
 * `smoke: true` holds `anyInSite` and blocks HVAC across the site), nor do its device-scoped
 * absences, held-fors and hysteresis (else the removed detector is "silent" 30 minutes later),
 * until it speaks again. Live,
 * in turn with the readings; in a rebuild, where its stored `cleared` transition is replayed; in a
 * cluster, on the partition's owner (cluster/rules-view.ts' takeAcknowledgement).
 */

/** Where the alarm is and the device it names (a per-device alarm's `device`). */
interface AlarmPlace {
  readonly site: string;
  readonly zone: string;
  readonly device?: string | undefined;
}

/** A stored transition that is an operator's clear of an alarm naming a device (core/loop-events.ts). */
export { isOperatorClear } from '../core/loop-events.js';

/** The rules forget the device the cleared alarm names, and say so. */
export function forgetCleared(rules: { readonly state: ZoneState; readonly watches: Watches }, log: Logger, a: AlarmPlace, alarmId: string, replayed: boolean): void {
  const { site, zone, device } = a;
  if (device === undefined) return;
  const kinds = rules.state.forgetDevice(site, zone, device);
  const watches = rules.watches.forgetDevice(`${site}/${zone}/${device}`, device);
  log.info(
    { alarmId, site, zone, device, kinds, watches, ...(replayed ? { replayed } : {}) },
    `alarm cleared by an operator: the rules forget the latest readings of ${device} in ${site}/${zone} (${kinds.length > 0 ? kinds.join(', ') : 'none known'}), as a device removed; it counts again once it speaks${replayed ? ' (replayed)' : ''}`,
  );
}

/**
 * alarms.ts' `acknowledge`; an alarm active before it and cleared by it that names a device is
 * handed to `forget`. A dry run clears nothing here (a cluster takeover's replay: takeAcknowledgement).
 */
export function acknowledgeAlarm(alarms: AlarmBook, ack: { alarmId: string; by: string; note: string | undefined; correlationId: string; clear: boolean }, forget: (a: Alarm) => void): Alarm | undefined {
  const was = alarms.get(ack.alarmId);
  const active = was !== undefined && alarms.find(was) === was;
  const a = alarms.acknowledge(ack.alarmId, ack.by, ack.note, ack.correlationId, ack.clear);
  if (a?.device !== undefined && active && alarms.find(a) !== a) forget(a);
  return a;
}
