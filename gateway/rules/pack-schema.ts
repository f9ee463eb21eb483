import { SEGMENT_SOURCE } from '../core/segments.js';


/** The JSON Schema of a rule pack file; what it cannot say (facts, params, durations) pack.ts checks. */
export const packSchema = {
  type: 'object',
  required: ['rules'],
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string' },
    description: { type: 'string' },
    /** Kinds the rules judge whenever a reading arrives, history or not (smoke always is). */
    safetyKinds: { type: 'array', items: { type: 'string' } },
    actuators: {
      type: 'object',
      propertyNames: { pattern: SEGMENT_SOURCE },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          description: { type: 'string' },
          minOn: { type: 'string' },
          minOff: { type: 'string' },
          off: { type: 'object' },
        },
      },
    },
    rules: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'conditions', 'event'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
          description: { type: 'string' },
          priority: { type: 'integer', minimum: 1 },
          kinds: { type: 'array', items: { type: 'string' } },
          conditions: { type: 'object' },
          event: {
            type: 'object',
            required: ['type', 'params'],
            additionalProperties: false,
            properties: {
              type: { enum: ['command', 'alert'] },
              params: { type: 'object' },
            },
            if: { properties: { type: { const: 'command' } } },
            then: {
              properties: {
                params: {
                  type: 'object',
                  required: ['actuator', 'data'],
                  additionalProperties: false,
                  properties: {
                    actuator: { type: 'string', pattern: SEGMENT_SOURCE },
                    type: { type: 'string', minLength: 1 },
                    data: { type: 'object' },
                    scope: { enum: ['zone', 'site'] },
                    force: { type: 'boolean' },
                    override: { type: 'boolean' },
                  },
                },
              },
            },
            else: {
              properties: {
                params: {
                  type: 'object',
                  required: ['severity', 'message'],
                  additionalProperties: false,
                  properties: {
                    severity: { enum: ['info', 'warning', 'critical'] },
                    message: { type: 'string', minLength: 1 },
                    type: { type: 'string', minLength: 1 },
                    repeatAfterSeconds: { type: 'number', minimum: 0 },
                    repeat: { type: 'string' },
                    clearAfter: { type: 'string' },
                    clearWhen: { type: 'object' },
                    per: { enum: ['zone', 'device'] },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};
