import type { ActuatorStateEvent, AlarmTransitionEvent, AlertEvent, CommandEvent, CommandStatusEvent, DeadLetterEvent, DeviceStatusEvent, GatewayStatsEvent, ReadingEvent, ZoneArmedEvent } from './events.js';

/** What the store keeps, by name: every event the gateway records. */
export interface StorableEvents {
  reading: ReadingEvent;
  command: CommandEvent;
  alert: AlertEvent;
  deadletter: DeadLetterEvent;
  deviceStatus: DeviceStatusEvent;
  zoneArmed: ZoneArmedEvent;
  actuatorState: ActuatorStateEvent;
  alarm: AlarmTransitionEvent;
  commandStatus: CommandStatusEvent;
  stats: GatewayStatsEvent;
}

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
  /** Resolves when there is room again after `keep` returned false (or the store closed). */
  whenSpace(): Promise<void>;
  isFull(): boolean;
  readonly isOpen: boolean;
}
