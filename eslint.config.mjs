// One lint config for the workspace. Module boundaries are checked through Nx's project graph, so run lint
// through `nx` (the graph is computed first); plain `eslint` on a fresh clone would skip that rule.
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';

/** Frameworks, drivers and sockets that the pure libs (and the contracts) must never import. */
const infrastructure = [
  '@nestjs/*',
  'typeorm',
  'pg',
  'pg-*',
  'mqtt',
  'aedes',
  '@grpc/*',
  '@electric-sql/*',
  'express',
  'better-sqlite3',
];

/**
 * Node modules that reach the network, the disk or other processes. The pure libraries compute over data and do
 * no I/O; Nx's boundary rule does not see Node built-ins, so a plain import restriction covers them.
 */
const ioBuiltins = [
  'net',
  'dgram',
  'tls',
  'http',
  'https',
  'http2',
  'dns',
  'fs',
  'fs/promises',
  'child_process',
  'cluster',
  'worker_threads',
];
const pureLibFiles = ['libs/scheduling/**/*.{ts,mts,js,mjs}'];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  prettier,
  {
    ignores: [
      '**/dist',
      '**/node_modules',
      '**/.nx',
      '**/coverage',
      '**/.medfleet-data',
      '**/vitest.config.mts',
    ],
  },
  {
    files: ['**/*.ts', '**/*.mts', '**/*.js', '**/*.mjs'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            {
              sourceTag: 'type:app',
              onlyDependOnLibsWithTags: ['type:domain', 'type:contract', 'type:util'],
            },
            {
              sourceTag: 'type:domain',
              onlyDependOnLibsWithTags: ['type:domain', 'type:contract'],
              bannedExternalImports: infrastructure,
            },
            {
              sourceTag: 'type:contract',
              onlyDependOnLibsWithTags: [],
              bannedExternalImports: infrastructure,
            },
            {
              sourceTag: 'type:util',
              onlyDependOnLibsWithTags: ['type:domain', 'type:contract', 'type:util'],
              bannedExternalImports: ['@nestjs/*', 'typeorm', 'pg', 'pg-*', '@electric-sql/*'],
            },
            {
              sourceTag: 'scope:edge',
              onlyDependOnLibsWithTags: ['scope:edge', 'scope:shared'],
              bannedExternalImports: ['@nestjs/*', 'typeorm', 'pg', 'pg-*', '@electric-sql/*', 'aedes'],
            },
            { sourceTag: 'scope:cloud', onlyDependOnLibsWithTags: ['scope:cloud', 'scope:shared'] },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name=/^(it|describe|test|suite)$/][property.name='only']",
          message: 'A committed .only silently disables the rest of the suite.',
        },
      ],
    },
  },
  {
    files: pureLibFiles,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ioBuiltins.flatMap((name) =>
            [name, `node:${name}`].map((module) => ({
              name: module,
              message: 'A pure library does no I/O: take the data as an argument instead.',
            })),
          ),
        },
      ],
    },
  },
  {
    files: ['**/*.ts', '**/*.mts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests read untyped JSON answers of the API; production code may not.
    files: ['**/test/**/*.ts', '**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
];
