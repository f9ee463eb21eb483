import type { Logger } from 'pino';
import type { ActuatorStateEvent, AlarmAckEvent, AlarmTransitionEvent, AlertEvent, CommandEvent, CommandStatusEvent, DeadLetterEvent, DeviceSilenceEvent, DeviceStatusEvent, ReadingEvent, ZoneArmedEvent } from './events.js';

/** What flows on the in-process bus. Producers emit; they never know who listens. */
export interface EventMap {
  /** A validated reading that is the device's current state (not history, not a duplicate). */
  reading: ReadingEvent;
  /** A validated reading that is older than the device's latest or stale: stored, not fed to rules. */
  history: ReadingEvent;
  command: CommandEvent;
  alert: AlertEvent;
  deadletter: DeadLetterEvent;
  deviceStatus: DeviceStatusEvent;
  /** A device fell silent, or was heard again after it had (ingest/silence.ts). */
  deviceSilence: DeviceSilenceEvent;
  zoneArmed: ZoneArmedEvent;
  /** What an actuator reported it is doing (confirms or contradicts what it was commanded). */
  actuatorState: ActuatorStateEvent;
  /** An operator acknowledges an alarm (ingest checked that the alarm is known). */
  alarmAck: AlarmAckEvent;
  /** An alarm was raised, updated, acknowledged or cleared. */
  alarm: AlarmTransitionEvent;
  /** A step of a command's saga: sent, confirmed, retried, failed, overridden, superseded. */
  commandStatus: CommandStatusEvent;
}

export type Listener<T> = (event: T) => void | Promise<void>;

/**
 * A typed, synchronous event bus. One listener's failure (thrown or rejected) is logged and
 * counted and never reaches the producer or the other listeners.
 */
export class EventBus {
  private readonly listeners: { [K in keyof EventMap]?: Listener<EventMap[K]>[] } = {};
  listenerFailures = 0;

  constructor(private readonly log: Logger) {}

  on<K extends keyof EventMap>(name: K, listener: Listener<EventMap[K]>): () => void {
    const list = (this.listeners[name] ??= []) as Listener<EventMap[K]>[];
    list.push(listener);
    return () => {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    };
  }

  emit<K extends keyof EventMap>(name: K, event: EventMap[K]): void {
    const list = this.listeners[name];
    if (!list) return;
    for (const listener of list) {
      try {
        const result = listener(event);
        if (result instanceof Promise) result.catch((err: unknown) => this.failed(name, event, err));
      } catch (err) {
        this.failed(name, event, err);
      }
    }
  }

  private failed(name: keyof EventMap, event: EventMap[keyof EventMap], err: unknown): void {
    this.listenerFailures++;
    this.log.error({ err, bus: name, eventId: event.id }, 'event listener failed');
  }
}
