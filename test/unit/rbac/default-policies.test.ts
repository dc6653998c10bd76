// The RBAC matrix of the default policies in policies/: for each default role, every verb × resource ×
// namespace gives the decision written out below by reading the role's intent (the tables are the
// specification; the evaluator is not consulted to produce them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AuthorizationRequest, type CompiledPolicy, type RbacObject, authorize, compilePolicy, loadPolicies, resourceVerbs } from '../../../src/rbac/index.ts';
import { clusterRoleBinding, roleBinding } from './objects.ts';

const policiesDir = new URL('../../../policies/', import.meta.url).pathname;
const defaults: RbacObject[] = (await loadPolicies(policiesDir)).rbac;

interface ResourceRow {
  key: string;
  apiGroup: string;
  resource: string;
  subresource?: string;
  clusterScoped: boolean;
}

// Every resource Coffer serves.
const resources: ResourceRow[] = [
  { key: 'namespaces', apiGroup: '', resource: 'namespaces', clusterScoped: true },
  { key: 'secrets', apiGroup: '', resource: 'secrets', clusterScoped: false },
  { key: 'configmaps', apiGroup: '', resource: 'configmaps', clusterScoped: false },
  { key: 'roles', apiGroup: 'rbac.authorization.k8s.io', resource: 'roles', clusterScoped: false },
  { key: 'rolebindings', apiGroup: 'rbac.authorization.k8s.io', resource: 'rolebindings', clusterScoped: false },
  { key: 'clusterroles', apiGroup: 'rbac.authorization.k8s.io', resource: 'clusterroles', clusterScoped: true },
  { key: 'clusterrolebindings', apiGroup: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', clusterScoped: true },
  { key: 'coffer.dev/secrets/versions', apiGroup: 'coffer.dev', resource: 'secrets', subresource: 'versions', clusterScoped: false },
  { key: 'coffer.dev/secrets/rotate', apiGroup: 'coffer.dev', resource: 'secrets', subresource: 'rotate', clusterScoped: false },
  { key: 'coffer.dev/secrets/rollback', apiGroup: 'coffer.dev', resource: 'secrets', subresource: 'rollback', clusterScoped: false },
  { key: 'coffer.dev/auditevents', apiGroup: 'coffer.dev', resource: 'auditevents', clusterScoped: true },
  { key: 'coffer.dev/keys', apiGroup: 'coffer.dev', resource: 'keys', clusterScoped: true },
  { key: 'coffer.dev/members', apiGroup: 'coffer.dev', resource: 'members', clusterScoped: true },
  { key: 'coffer.dev/snapshots', apiGroup: 'coffer.dev', resource: 'snapshots', clusterScoped: true },
  { key: 'coffer.dev/certificates', apiGroup: 'coffer.dev', resource: 'certificates', clusterScoped: true },
];

const all = [...resourceVerbs];
// What each default role may do: resource key → verbs. Anything not listed is denied.
const expectedGrants: Record<string, Record<string, readonly string[]>> = {
  'cluster-admin': Object.fromEntries(resources.map((r) => [r.key, all])),
  'secret-reader': { secrets: ['get', 'list', 'watch'] },
  'secret-rotator': {
    secrets: ['get', 'update', 'patch'],
    'coffer.dev/secrets/rotate': ['create'],
    'coffer.dev/secrets/rollback': ['create'],
    'coffer.dev/secrets/versions': ['get'],
  },
  'configmap-editor': { configmaps: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] },
  auditor: { 'coffer.dev/auditevents': ['get', 'list'] },
  viewer: { configmaps: ['get', 'list', 'watch'], namespaces: ['get', 'list', 'watch'] },
};

// Where a request is made: one of two namespaces, or no namespace (cluster-scoped resources, and
// lists/watches across all namespaces for namespaced ones).
const scopes = ['default', 'team-a', undefined] as const;
const namedVerbs = new Set(['get', 'update', 'patch', 'delete']);

interface Cell {
  request: AuthorizationRequest;
  row: ResourceRow;
  namespace: string | undefined;
}

function cells(user: string, groups: string[]): Cell[] {
  const out: Cell[] = [];
  for (const row of resources) {
    for (const namespace of row.clusterScoped ? [undefined] : scopes) {
      for (const verb of resourceVerbs) {
        // Requests on one object name it; subresource requests always name their secret.
        const name = namedVerbs.has(verb) || row.subresource !== undefined ? 'obj-1' : undefined;
        const request: AuthorizationRequest = { user, groups, verb, apiGroup: row.apiGroup, resource: row.resource, subresource: row.subresource, namespace, name };
        out.push({ request, row, namespace });
      }
    }
  }
  return out;
}

function mismatches(policy: CompiledPolicy, table: Cell[], expected: (cell: Cell) => boolean): string[] {
  const wrong: string[] = [];
  for (const cell of table) {
    const decision = authorize(policy, cell.request);
    const want = expected(cell);
    if (decision.allowed !== want) {
      wrong.push(`${cell.request.verb} ${cell.row.key} ns=${cell.namespace ?? '-'}: expected ${want ? 'allow' : 'deny'}, got ${decision.reason}`);
    }
  }
  return wrong;
}

const grants = (roleName: string, cell: Cell): boolean => expectedGrants[roleName]?.[cell.row.key]?.includes(cell.request.verb) ?? false;

test('the matrix covers every default role and every cell', () => {
  assert.deepEqual(Object.keys(expectedGrants).sort(), ['auditor', 'cluster-admin', 'configmap-editor', 'secret-reader', 'secret-rotator', 'viewer']);
  // 15 resources: 8 cluster-scoped × 8 verbs + 7 namespaced × 3 scopes × 8 verbs.
  assert.equal(cells('u', []).length, 8 * 8 + 7 * 3 * 8);
});

for (const roleName of Object.keys(expectedGrants)) {
  test(`${roleName} through a ClusterRoleBinding: exactly its grants, in every namespace and at cluster scope`, () => {
    const policy = compilePolicy([...defaults, clusterRoleBinding(`test-${roleName}`, roleName, ['User:carol'])]);
    assert.deepEqual(mismatches(policy, cells('carol', ['system:authenticated']), (cell) => grants(roleName, cell)), []);
  });

  test(`${roleName} through a RoleBinding in team-a: its namespaced grants in team-a only`, () => {
    const policy = compilePolicy([...defaults, roleBinding('team-a', `test-${roleName}`, { kind: 'ClusterRole', name: roleName }, ['Group:team-a-devs'])]);
    const expected = (cell: Cell): boolean => cell.namespace === 'team-a' && !cell.row.clusterScoped && grants(roleName, cell);
    assert.deepEqual(mismatches(policy, cells('dave', ['team-a-devs', 'system:authenticated']), expected), []);
  });
}

test('system:masters is cluster-admin by default; a caller with no binding gets nothing; a member only reads audit events', () => {
  const policy = compilePolicy(defaults);
  assert.deepEqual(mismatches(policy, cells('admin', ['system:masters', 'system:authenticated']), () => true), []);
  assert.deepEqual(mismatches(policy, cells('nobody', ['system:authenticated']), () => false), []);
  // A member reads the audit events of its peers (a cluster-wide audit query asks every member), nothing else.
  const memberReadsAudit = (cell: Cell) => cell.row.key === 'coffer.dev/auditevents' && ['get', 'list'].includes(cell.request.verb);
  assert.deepEqual(mismatches(policy, cells('system:member:m1', ['system:members', 'system:authenticated']), memberReadsAudit), []);
});

test('non-resource paths: discovery for everyone authenticated, health and metrics for members (not the KV API), all for masters', () => {
  const policy = compilePolicy(defaults);
  const paths = ['/api', '/api/v1', '/apis', '/apis/coffer.dev/v1', '/apis/rbac.authorization.k8s.io/v1', '/openapi/v3', '/version',
    '/healthz', '/livez', '/readyz', '/metrics', '/v3/kv/range', '/v3/cluster/member/add', '/apis/coffer.dev/v1/namespaces/default/secrets', '/debug'];
  const verbs = ['get', 'post', 'delete'];
  const discovery = new Set(['/api', '/api/v1', '/apis', '/apis/coffer.dev/v1', '/apis/rbac.authorization.k8s.io/v1', '/openapi/v3', '/version', '/healthz', '/livez', '/readyz']);
  const memberGets = new Set(['/healthz', '/livez', '/readyz', '/version', '/metrics']);
  const expected: Record<string, (verb: string, path: string) => boolean> = {
    authenticated: (verb, path) => verb === 'get' && discovery.has(path),
    member: (verb, path) => verb === 'get' && (discovery.has(path) || memberGets.has(path)),
    masters: () => true,
  };
  const identities: Record<string, { user: string; groups: string[] }> = {
    authenticated: { user: 'alice', groups: ['system:authenticated'] },
    member: { user: 'system:member:m1', groups: ['system:members', 'system:authenticated'] },
    masters: { user: 'admin', groups: ['system:masters', 'system:authenticated'] },
  };
  const wrong: string[] = [];
  for (const [who, identity] of Object.entries(identities)) {
    for (const path of paths) {
      for (const verb of verbs) {
        const want = expected[who]?.(verb, path);
        const got = authorize(policy, { ...identity, verb, nonResourcePath: path }).allowed;
        if (got !== want) wrong.push(`${who} ${verb} ${path}: expected ${String(want)}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});
