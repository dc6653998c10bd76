// Import direction between the folders of src/ (docs/architecture.md, "Import direction"). Paths are
// matched on "src/<folder>/" wherever the tree sits, so the boundary test can cruise a fixture tree
// with the same rules.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'raft-imports-only-base-and-config',
      comment: 'The Raft core may import only src/base and src/config (and no node: module).',
      severity: 'error',
      from: { path: '(^|/)src/raft/' },
      to: { pathNot: ['(^|/)src/(raft|base|config)/', '^node_modules/pure-rand'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'raft-no-node-builtins',
      severity: 'error',
      from: { path: '(^|/)src/raft/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'nothing-imports-server',
      comment: 'src/server is the composition root; nothing imports it.',
      severity: 'error',
      from: { pathNot: '(^|/)src/server/' },
      to: { path: '(^|/)src/server/' },
    },
    {
      name: 'base-imports-nothing',
      severity: 'error',
      from: { path: '(^|/)src/base/' },
      to: { path: '(^|/)src/(?!base/)[^/]+/' },
    },
    {
      name: 'enter-folders-through-index',
      comment: 'Another folder is entered only through its index.ts.',
      severity: 'error',
      from: { path: '(?:^|/)src/((?:storage/)?[^/]+)/' },
      to: {
        path: '(?:^|/)src/.+',
        pathNot: ['(?:^|/)src/$1/', '(?:^|/)src/(?:storage/)?[^/]+/index\\.ts$'],
      },
    },
    {
      name: 'no-cycles',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
