import type { ErrorObject } from 'ajv';
import { nearestName } from '../core/edit-distance.js';
import { SEGMENT_HINT } from '../core/segments.js';
import { packSchema } from './pack-schema.js';

/** Schema errors in the words of a pack's author: where (with the rule's name), what, and "did you mean". */

function jsonPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
}

/** `rules[2] (hvac-cool).event.params`: a rule's place, with its name when it has one, as the later checks write it. */
function wherePath(instancePath: string, doc: unknown): string {
  const path = jsonPath(instancePath) || '(top level)';
  const index = /^rules\[(\d+)\]/.exec(path);
  if (!index) return path;
  const rules = (doc as { rules?: unknown }).rules;
  const name = Array.isArray(rules) ? (rules[Number(index[1])] as { name?: unknown } | undefined)?.name : undefined;
  return typeof name === 'string' ? `${index[0]} (${name})${path.slice(index[0].length)}` : path;
}

/** The value a schema error is about, when it is a small one worth showing. */
function given(e: ErrorObject): string {
  return e.data !== undefined && (typeof e.data !== 'object' || e.data === null) ? ` (got ${JSON.stringify(e.data)})` : '';
}

type Props = Record<string, unknown>;
const rule = packSchema.properties.rules.items;
const event = rule.properties.event;
/** What an event's params may hold, command's and alert's. */
const PARAMS = new Set([...Object.keys(event.then.properties.params.properties), ...Object.keys(event.else.properties.params.properties)]);

/** A property put one level off (`clearWhen` on the rule, `actuator` on the event), or misspelt. */
function misplaced(e: ErrorObject, property: string): string {
  const depth = e.instancePath.split('/').length - 1;
  // `/rules/0` is a rule, `/rules/0/event` its event.
  if (e.instancePath.startsWith('/rules/') && depth === 2 && Object.hasOwn(event.properties, property)) return `: did you mean event.${property}?`;
  if (e.instancePath.startsWith('/rules/') && depth <= 3 && PARAMS.has(property)) return `: did you mean event.params.${property}?`;
  if (e.instancePath.startsWith('/rules/') && depth === 4 && Object.hasOwn(rule.properties, property)) return `: did you mean to put it on the rule (rules[…].${property})?`;
  const allowed = Object.keys((e.parentSchema?.['properties'] as Props | undefined) ?? {});
  const near = nearestName(property, allowed);
  return near ? `: did you mean ${JSON.stringify(near)}?` : '';
}

function describe(e: ErrorObject, doc: unknown): string {
  const where = wherePath(e.instancePath, doc);
  if (e.keyword === 'additionalProperties') {
    const property = (e.params as { additionalProperty: string }).additionalProperty;
    return `${where}: unknown property ${JSON.stringify(property)}${misplaced(e, property)}`;
  }
  if (e.keyword === 'enum') {
    const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
    const near = typeof e.data === 'string' ? nearestName(e.data, allowed.filter((v) => typeof v === 'string')) : undefined;
    return `${where}: must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}${given(e)}${near ? `: did you mean ${JSON.stringify(near)}?` : ''}`;
  }
  if (e.keyword === 'propertyNames') return `${where}: ${JSON.stringify((e.params as { propertyName: string }).propertyName)} is not a valid actuator name (${SEGMENT_HINT})`;
  return `${where}: ${e.message ?? 'is invalid'}${e.keyword === 'required' ? '' : given(e)}`;
}

/**
 * The schema's errors worth saying. An event whose `type` is missing or not one of the types has
 * its params judged as an alert's (the schema's else): those errors are about a type nobody meant,
 * so only the type's is said (`"commnd"`: did you mean "command"?).
 */
export function schemaProblems(errors: readonly ErrorObject[], doc: unknown): string[] {
  const badType = new Set(
    errors.flatMap((e) =>
      e.keyword === 'enum' && /^\/rules\/\d+\/event\/type$/.test(e.instancePath) ? [e.instancePath.slice(0, -'/type'.length)] : e.keyword === 'required' && /^\/rules\/\d+\/event$/.test(e.instancePath) && (e.params as { missingProperty?: string }).missingProperty === 'type' ? [e.instancePath] : [],
    ),
  );
  return errors.filter((e) => e.keyword !== 'if' && ![...badType].some((ev) => e.instancePath.startsWith(`${ev}/params`))).map((e) => describe(e, doc));
}

export function lineAndColumn(text: string, message: string): string {
  const position = /position (\d+)/.exec(message)?.[1];
  if (position === undefined) return message;
  const before = text.slice(0, Number(position));
  const line = before.split('\n').length;
  const column = Number(position) - before.lastIndexOf('\n');
  return `${message.replace(/ in JSON at position \d+.*$/, '')} at line ${line}, column ${column}`;
}
