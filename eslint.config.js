// Type-aware lint for the TypeScript sources and tests; plain-JavaScript entry
// points are linted without type information, as no tsconfig includes them.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.bench/'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    rules: {
      // Indexed reads are checked by noUncheckedIndexedAccess; `!` marks reads a loop bound or length test already guards.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Numbers and booleans print as intended in messages; objects, nullish values and unknowns still need an explicit conversion.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `() => resolve()` style callbacks return nothing meaningful; the rule still applies to statements and returns.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // Server text and user input are filtered for control characters on purpose.
      'no-control-regex': 'off',
      // Unsetting a variable in process.env, or an option in a record of options, is a delete by name.
      '@typescript-eslint/no-dynamic-delete': 'off',
      // A leading underscore marks a parameter kept for its position (test tables, interface signatures).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // `let x!: T` assigned once, after the closures that read it are created, cannot be a const;
      // nor can one name of a destructuring whose other names are reassigned.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true, destructuring: 'all' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // vitest's asymmetric matchers (expect.any, expect.stringMatching) are typed any.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    files: ['test/integration/**/*.ts'],
    rules: {
      // Servers a beforeAll starts are typed as set, yet afterAll must cope with a beforeAll that failed half way: `server?.stop()`.
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  prettier,
);
