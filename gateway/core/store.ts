import type { EventMap } from './bus.js';
import type { GatewayStatsEvent, NativeCommandEvent } from './events.js';

/**
 * What the store keeps, by name: every event on the bus (history is a reading too; an alarm
 * acknowledgement is kept as the alarm's `acknowledged` transition), the native publishes that
 * carry a command to a device, and the gateway's own stats.
 */
export type StorableEvents = Omit<EventMap, 'history' | 'alarmAck'> & { nativeCommand: NativeCommandEvent; stats: GatewayStatsEvent };

export type StorableName = keyof StorableEvents;

/**
 * The store port: ingest, rules and the stats reporter hand events here and know nothing of
 * journals, line protocol or point times; storage implements it (storage/event-store.ts).
 */
export interface Store {
  /**
   * Keeps an event (durably, once `committed()` resolves). False when it cannot be kept now:
   * the spool is full or closed. `always` keeps it even when full (commands and alerts are few
   * and must be recorded).
   */
  keep<K extends StorableName>(name: K, event: StorableEvents[K], always?: boolean): boolean;
  /** Resolves when everything kept so far is durable. */
  committed(): Promise<void>;
  /**
   * Resolves when everything kept so far is written to the spool file, not yet synced: it then
   * survives the gateway being killed, not a power cut (what a command waits for before it goes).
   */
  written(): Promise<void>;
  /** Resolves when there is room again after `keep` returned false (or the store closed). */
  whenSpace(): Promise<void>;
  isFull(): boolean;
  /** Why it is full: its own limit, or the disk (no room left, or writes failing). */
  fullReason?(): 'spool_full' | 'disk_full';
  readonly isOpen: boolean;
}
