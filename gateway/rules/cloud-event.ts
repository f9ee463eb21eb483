import type { CloudEventJson } from '../core/events.js';
import { newEventId } from '../core/ids.js';

/**
 * A CloudEvent 1.0 as the contract has it, built directly: its shape is fixed and its inputs are
 * checked when a pack is parsed (rule names, non-empty types), so the CloudEvents SDK's
 * construct-and-validate per command is not needed; test/unit/rules/cloud-event.test.ts holds the
 * output to the SDK: valid, and byte for byte the JSON the SDK-built event gave (the topic
 * payloads are a public contract; key order is the SDK's: its constructor's, extensions last).
 */
export function cloudEvent<T>(type: string, rule: string, subject: string, correlationId: string, data: T, timeMs: number): CloudEventJson<T> {
  return {
    id: newEventId(),
    time: new Date(timeMs).toISOString(),
    type,
    source: `rules/${rule}`,
    specversion: '1.0',
    datacontenttype: 'application/json',
    subject,
    data,
    correlationid: correlationId,
  };
}
