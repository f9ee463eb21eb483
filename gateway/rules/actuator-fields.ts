import { walkConditions, type ConditionNode } from './condition-walk.js';
import { commands } from './actuator-links.js';
import type { RulePack } from './pack.js';

type FieldRead = { at: string; actuator: string; field: string };

/** Each `actuator` fact of a condition tree that reads one field: where it is, the actuator and the field. */
function fieldReads(node: unknown, at: string): FieldRead[] {
  const out: FieldRead[] = [];
  walkConditions(node, at, (n, where) => {
    const value = n['value'];
    const reads: [ConditionNode, string][] = [[n, where]];
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) reads.push([value as ConditionNode, `${where}.value`]);
    for (const [c, place] of reads) {
      const params = c['params'] as ConditionNode | undefined;
      if (c['fact'] === 'actuator' && typeof params?.['actuator'] === 'string' && typeof params['field'] === 'string') out.push({ at: `${place}.params.field`, actuator: params['actuator'], field: params['field'] });
    }
  });
  return out;
}

/**
 * `actuator` facts reading a field that no rule of the packs sets on that actuator (`mode` of a
 * fan the rules switch with `state`): it holds a value only when the actuator reports one (a
 * change by hand), so the condition is most likely a mistake. Said as a warning, not refused: an
 * actuator may report fields nobody commands. One line each, prefixed by the file.
 */
export function unsetFieldReads(packs: readonly RulePack[]): string[] {
  const commanded = commands(packs);
  return packs.flatMap((p) =>
    p.rules.flatMap((r, i) => {
      const where = `rules[${i}] (${r.name})`;
      const reads = [...fieldReads(r.conditions, `${where}.conditions`), ...fieldReads(r.alarm?.clearWhen, `${where}.event.params.clearWhen`)];
      return reads.flatMap(({ at, actuator, field }) => {
        const fields = commanded.get(actuator);
        // An actuator no rule commands is read for what it reports: nothing to compare with.
        if (!fields || fields.has(field)) return [];
        return [`${p.file}: ${at}: no rule sets ${JSON.stringify(field)} on ${actuator} (they set: ${[...fields].sort().join(', ')}), so the condition sees it only if ${actuator} reports it`];
      });
    }),
  );
}
