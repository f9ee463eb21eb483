// Lint: typescript-eslint's type-checked rules (no floating promises, no unsafe any), no console in gateway/.
import tseslint from 'typescript-eslint';

/**
 * One direction of dependencies (docs/DEVELOPING.md): folders in the order data flows; a folder
 * may import core/, config/, observability/ and the folders before it, never one after it.
 * The composition root (gateway.ts, main.ts) wires them all. Files one folder deeper
 * (storage/spool/, devices/families/) are held to their folder's rule too.
 */
const FLOW = ['broker', 'devices', 'ingest', 'rules', 'storage', 'cluster', 'http', 'lab', 'cli'];
const LEAVES = { core: [], config: ['core'], observability: ['core', 'config'] };
function layerRules() {
  const all = [...Object.keys(LEAVES), ...FLOW];
  const forbid = (folder, allowed) => ({
    files: [`gateway/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          {
            group: [...all.filter((f) => f !== folder && !allowed.includes(f)).flatMap((f) => [`../${f}/*`, `../../${f}/*`]), '../gateway.js', '../main.js', '../../gateway.js', '../../main.js'],
            message: `gateway/${folder}/ may import only ${[...allowed].join(', ') || 'itself'} (docs/DEVELOPING.md: one direction of dependencies)`,
          },
        ],
      }],
    },
  });
  return [
    ...Object.entries(LEAVES).map(([folder, allowed]) => forbid(folder, allowed)),
    ...FLOW.map((folder, i) => forbid(folder, [...Object.keys(LEAVES), ...FLOW.slice(0, i)])),
  ];
}

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'coverage/', 'bench/results/', 'dashboards/**/*.json', 'eslint.config.js', 'scripts/*.mjs', 'test-results/', 'bench/tmp/', 'gateway/http/live-*.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/explicit-module-boundary-types': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['gateway/**/*.ts', 'rules/**/*.ts', 'bench/**/*.ts', 'test/**/*.ts'],
    ignores: ['gateway/rules/jre.ts'],
    rules: {
      // json-rules-engine must be loaded through gateway/rules/jre.ts (its faster clone); InfluxQL strings quoted one way.
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: [
          { name: 'json-rules-engine', message: 'import it from gateway/rules/jre.ts', allowTypeImports: true },
          // escape.stringLit escapes quotes but not backslashes: an id ending in one broke the query.
          { name: 'influx', importNames: ['escape'], message: 'quote InfluxQL strings with stringLiteral from gateway/storage/influxql.ts' },
        ],
      }],
    },
  },
  ...layerRules(),
  {
    files: ['gateway/**/*.ts'],
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
