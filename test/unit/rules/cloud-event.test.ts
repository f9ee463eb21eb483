/**
 * Commands and alerts are CloudEvents 1.0 built without the SDK. Their JSON is the topic payloads'
 * public contract (/work/shared/DESIGN.md, "Command and alert events"): byte for byte what the SDK-built event gave before, and valid
 * per the SDK.
 */
import { CloudEvent } from 'cloudevents';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CloudEventJson } from '../../../gateway/core/events.js';
import { cloudEvent } from '../../../gateway/rules/cloud-event.js';

/** The old builder, as it was (the CloudEvents SDK's construct, validate and `toJSON()`), with the same id. */
function oldShape<T>(id: string, type: string, rule: string, subject: string, correlationId: string, data: T, timeMs: number): CloudEventJson<T> {
  const event = new CloudEvent<T>({
    id,
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

const name = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/);
const scalar = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null), fc.constant(undefined));
const data = fc.oneof(
  fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), scalar, { maxKeys: 3 }))),
  // An alert's data (rules/alarm-events.ts), optional fields present or not.
  fc.record(
    {
      severity: fc.constantFrom('info', 'warning', 'critical'),
      message: fc.string({ minLength: 1 }),
      site: name,
      zone: name,
      device: name,
      kind: name,
      value: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.string(), fc.constant(undefined)),
      alarmId: fc.uuid(),
      count: fc.nat(),
      repeat: fc.nat(),
    },
    { requiredKeys: ['severity', 'message', 'site', 'zone', 'device', 'value', 'alarmId', 'count'] },
  ),
);

describe('cloudEvent', () => {
  it('writes byte for byte the JSON of the old SDK-built event, and the SDK finds it valid', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), name, fc.tuple(name, name, name), fc.string({ minLength: 1, maxLength: 40 }), data, fc.integer({ min: 0, max: 4_102_444_800_000 }), (type, rule, [site, zone, actuator], correlationId, d, timeMs) => {
        const subject = `${site}/${zone}/${actuator}`;
        const built = cloudEvent(type, rule, subject, correlationId, d, timeMs);
        expect(JSON.stringify(built)).toBe(JSON.stringify(oldShape(built.id, type, rule, subject, correlationId, d, timeMs)));
        // The SDK validates on construction (throws on an invalid event).
        expect(new CloudEvent({ ...built }).validate()).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('is what a command carries', () => {
    const timeMs = Date.parse('2026-11-24T10:00:00Z');
    const ce = cloudEvent('hvac.set', 'cool-when-hot', 'hq/f1/hvac', 'reading-1', { mode: 'cool', setpoint: 21.5 }, timeMs);
    expect(JSON.stringify(ce)).toBe(
      `{"id":"${ce.id}","time":"2026-11-24T10:00:00.000Z","type":"hvac.set","source":"rules/cool-when-hot","specversion":"1.0","datacontenttype":"application/json","subject":"hq/f1/hvac","data":{"mode":"cool","setpoint":21.5},"correlationid":"reading-1"}`,
    );
    expect(JSON.stringify(ce)).toBe(JSON.stringify(oldShape(ce.id, 'hvac.set', 'cool-when-hot', 'hq/f1/hvac', 'reading-1', { mode: 'cool', setpoint: 21.5 }, timeMs)));
  });
});
