// Lint: typescript-eslint's type-checked rules (no floating promises, no unsafe any), no console in gateway/.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'coverage/', 'bench/results/', 'dashboards/**/*.json', 'eslint.config.js', 'scripts/*.mjs', 'test-results/', 'bench/tmp/'] },
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
      // json-rules-engine must be loaded through gateway/rules/jre.ts (its faster clone).
      '@typescript-eslint/no-restricted-imports': ['error', { paths: [{ name: 'json-rules-engine', message: 'import it from gateway/rules/jre.ts', allowTypeImports: true }] }],
    },
  },
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
