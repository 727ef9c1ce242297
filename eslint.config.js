// Type-aware lint for the whole workspace (`pnpm lint`, also run by .ci/run). The rules are the ones that catch real
// defects in a codebase built on abort signals, locks and atomic publishing: promises nobody awaits or that are passed
// where a callback's result is ignored, `await` on non-promises, switches that miss a case of a union, and type-only
// imports that would otherwise be kept in the emitted JavaScript.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      '**/test-data/**',
      'tarballs/**',
      'runs/**',
      'results/**',
      'bench-results/**',
      'coverage/**',
      'docs/api/**',
      '.vlfer-cache/**',
      '**/*.d.ts',
    ],
  },
  {
    files: ['**/*.{ts,mts,cts}'],
    extends: [tseslint.configs.base],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
    },
  },
  {
    // build configs and the consumer smoke programs are outside every tsconfig project (the consumer programs are
    // type-checked against the installed tarballs by tooling/build): linted without type information
    files: ['**/tsup.config.ts', 'vitest.config.ts', 'tooling/build/consumer/**'],
    extends: [tseslint.configs.base, tseslint.configs.disableTypeChecked],
    rules: { '@typescript-eslint/consistent-type-imports': 'error' },
  },
  {
    files: ['**/*.{js,mjs,cjs}'],
    extends: [js.configs.recommended],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        globalThis: 'readonly',
      },
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', exports: 'writable', __dirname: 'readonly' },
    },
  },
);
