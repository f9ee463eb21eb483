import { CloudEvent } from 'cloudevents';
import type { CloudEventJson } from '../core/events.js';
import { newEventId } from '../core/ids.js';

/** A CloudEvent 1.0 as the contract has it, built and validated by the CloudEvents SDK (spec, extension names, required fields). */
export function cloudEvent<T>(type: string, rule: string, subject: string, correlationId: string, data: T, timeMs: number): CloudEventJson<T> {
  const event = new CloudEvent<T>({
    id: newEventId(),
    type,
    source: `rules/${rule}`,
    time: new Date(timeMs).toISOString(),
    subject,
    datacontenttype: 'application/json',
    correlationid: correlationId,
    data,
  });
  return event.toJSON() as unknown as CloudEventJson<T>;
}
