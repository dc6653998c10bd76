// ESLint for Coffer: typescript-eslint with type information everywhere, and the purity rules of
// the Raft core (src/raft touches no time, randomness, I/O or Promises). Import direction is checked by dependency-cruiser
// (.dependency-cruiser.cjs).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const raftImpurity = 'src/raft is a pure, deterministic state machine: no time, randomness, I/O or Promises';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'certs/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', '.*.cjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }],
      }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      eqeqeq: ['error', 'always'],
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The Raft core: no time, randomness, timers, Promises or I/O. Time enters as tick(),
    // randomness through the injected Random.
    files: ['**/src/raft/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*'], message: raftImpurity }] }],
      'no-restricted-globals': ['error',
        ...['Date', 'Promise', 'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval',
          'queueMicrotask', 'process', 'require', 'performance', 'fetch', 'crypto']
          .map((name) => ({ name, message: raftImpurity })),
      ],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: raftImpurity }],
      'no-restricted-syntax': ['error',
        { selector: 'FunctionDeclaration[async=true], FunctionExpression[async=true], ArrowFunctionExpression[async=true]', message: raftImpurity },
        { selector: 'AwaitExpression', message: raftImpurity },
        { selector: 'ImportExpression', message: raftImpurity },
      ],
    },
  },
);
