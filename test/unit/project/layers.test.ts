/**
 * The lint rule that keeps one direction of dependencies (eslint.config.js, docs/DEVELOPING.md):
 * its own entries, run on small sources placed in the folders, so a rule that stops matching
 * (a subfolder, a new layer) fails here rather than letting an import against the flow in.
 */
import { resolve } from 'node:path';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..', '..');

async function layerLinter(): Promise<ESLint> {
  const config = (await import(resolve(root, 'eslint.config.js'))) as { default: Linter.Config[] };
  const layers = config.default.filter((c) => c.rules?.['no-restricted-imports'] !== undefined && c.files?.some((f) => String(f).startsWith('gateway/')));
  return new ESLint({ cwd: root, overrideConfigFile: true, overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...layers] });
}

async function refused(file: string, from: string): Promise<boolean> {
  const [result] = await (await layerLinter()).lintText(`import type { X } from '${from}';\nexport type Y = X;\n`, { filePath: resolve(root, file) });
  return result!.messages.some((m) => m.ruleId === 'no-restricted-imports');
}

describe('one direction of dependencies', () => {
  it('refuses an import against the flow, from a folder and from a folder one deeper', async () => {
    expect(await refused('gateway/ingest/probe.ts', '../rules/runtime.js')).toBe(true);
    expect(await refused('gateway/storage/spool/probe.ts', '../../http/live.js')).toBe(true);
    expect(await refused('gateway/devices/families/probe.ts', '../../ingest/ingest.js')).toBe(true);
    expect(await refused('gateway/core/probe.ts', '../broker/broker.js')).toBe(true);
    expect(await refused('gateway/observability/probe.ts', '../storage/journal.js')).toBe(true);
  });

  it('lets a folder import core, observability and the folders before it', async () => {
    expect(await refused('gateway/rules/probe.ts', '../ingest/envelope.js')).toBe(false);
    expect(await refused('gateway/storage/spool/probe.ts', '../../core/events.js')).toBe(false);
    expect(await refused('gateway/http/probe.ts', '../observability/metrics.js')).toBe(false);
  });
});
