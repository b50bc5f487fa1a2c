// Flat config: ESLint's recommended rules plus typescript-eslint's, on every TypeScript file.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.local/', 'lake/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Services depend on services/common, never on the scripts (docs/architecture.md, "Where each
    // piece lives"); tests and their fixtures may use the scripts' stack and data helpers.
    files: ['services/**/*.ts'],
    ignores: ['**/*.test.ts', '**/testing/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/scripts/**'], message: 'services must not import from scripts/: move what a service needs into services/common' }] }],
    },
  },
);
