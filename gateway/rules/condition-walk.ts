/** A node of a rule's condition tree as loaded from JSON: a leaf, or an `all`/`any`/`not` group. */
export type ConditionNode = Record<string, unknown>;

/**
 * Calls `visit` on every node of a condition tree, children before their group, with where the
 * node is (`….all[1].not`) and whether an odd number of `not`s turn it round. The checks of the
 * rule packs each read the tree their own way; the nesting they all walk is here.
 */
export function walkConditions(node: unknown, at: string, visit: (n: ConditionNode, at: string, negated: boolean) => void, negated = false): void {
  if (typeof node !== 'object' || node === null) return;
  const n = node as ConditionNode;
  for (const group of ['all', 'any'] as const) if (Array.isArray(n[group])) (n[group] as unknown[]).forEach((c, i) => walkConditions(c, `${at}.${group}[${i}]`, visit, negated));
  if ('not' in n) walkConditions(n['not'], `${at}.not`, visit, !negated);
  visit(n, at, negated);
}
