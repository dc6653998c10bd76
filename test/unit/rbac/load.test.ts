import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { policyFileBytesMax } from '../../../src/config/index.ts';
import {
  compilePolicy, isRbacError, loadPolicies, parsePolicyYaml, readPolicyDocuments, selectRbacObjects,
} from '../../../src/rbac/index.ts';

const policiesDir = new URL('../../../policies/', import.meta.url).pathname;

const clusterRoleYaml = (name: string): string => `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: ${name} }
rules:
  - { apiGroups: [""], resources: [secrets], verbs: [get] }
`;

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-rbac-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('every default policy file loads and validates, and the RBAC set is the one documented', async () => {
  const { rbac, others } = await loadPolicies(policiesDir);
  assert.deepEqual(rbac.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
    'ClusterRole/auditor', 'ClusterRole/cluster-admin', 'ClusterRole/configmap-editor', 'ClusterRole/secret-reader',
    'ClusterRole/secret-rotator', 'ClusterRole/system:basic-user', 'ClusterRole/system:discovery', 'ClusterRole/system:member', 'ClusterRole/viewer',
    'ClusterRoleBinding/cluster-admin', 'ClusterRoleBinding/system:basic-user', 'ClusterRoleBinding/system:discovery', 'ClusterRoleBinding/system:member',
  ]);
  for (const object of rbac) assert.equal(object.metadata.labels?.['coffer.dev/bootstrapping'], 'rbac-defaults', object.metadata.name);
  // Other documents (the audit policy) are set aside for their owner, never RBAC.
  for (const document of others) assert.ok(!String(document.value.apiVersion).startsWith('rbac.authorization.k8s.io/'), document.source);
  const policy = compilePolicy(rbac);
  assert.deepEqual(policy.danglingBindings, []);
  assert.deepEqual(policy.counts, { roles: 0, clusterRoles: 9, roleBindings: 0, clusterRoleBindings: 4 });
});

test('cluster-admin is bound to system:masters', async () => {
  const { rbac } = await loadPolicies(policiesDir);
  const binding = rbac.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name === 'cluster-admin');
  assert.ok(binding?.kind === 'ClusterRoleBinding');
  assert.deepEqual(binding.subjects, [{ kind: 'Group', name: 'system:masters', apiGroup: 'rbac.authorization.k8s.io' }]);
  assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' });
});

test('a YAML stream: documents in order, empty ones skipped, a v1 List unpacked, sources numbered', () => {
  const text = `${clusterRoleYaml('a')}---\n---\napiVersion: v1\nkind: List\nitems:\n  - ${JSON.stringify({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'b' } })}\n`;
  const documents = parsePolicyYaml(text, 'p.yaml');
  assert.deepEqual(documents.map((d) => d.source), ['p.yaml#1', 'p.yaml#3.items[0]']);
  assert.deepEqual(selectRbacObjects(documents).rbac.map((o) => o.metadata.name), ['a', 'b']);
});

test('malformed YAML, duplicate keys, alias bombs and non-object documents are refused with their source', () => {
  const refused = (text: string, pattern: RegExp): void => {
    assert.throws(() => parsePolicyYaml(text, 'bad.yaml'), (error: unknown) => isRbacError(error, 'INVALID_POLICY_FILE') && pattern.test(error.message), text);
  };
  refused('kind: [ClusterRole\n', /^bad\.yaml#1: not valid YAML/);
  refused(`${clusterRoleYaml('a')}---\nkind: Role\nkind: ClusterRole\n`, /^bad\.yaml#2: not valid YAML/);
  refused('- just\n- a list\n', /^bad\.yaml#1: a policy document must be an object/);
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
  refused(`${bomb}\n`, /^bad\.yaml#1: Excessive alias count/);
});

test('RBAC documents are validated with the source in the message; other groups are set aside; a wrong RBAC version is an error', () => {
  const bad = parsePolicyYaml('apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: { name: r }\nrules: [{ apiGroups: [""], resources: [secrets] }]\n', 'roles.yaml');
  assert.throws(() => selectRbacObjects(bad), (error: unknown) => {
    assert.ok(isRbacError(error, 'INVALID_OBJECT'));
    assert.equal(error.message, 'roles.yaml#1: ClusterRole "r" is invalid: rules[0].verbs: required');
    assert.deepEqual(error.causes, [{ field: 'rules[0].verbs', message: 'required' }]);
    return true;
  });
  const beta = parsePolicyYaml(clusterRoleYaml('r').replace('/v1', '/v1beta1'), 'old.yaml');
  assert.throws(() => selectRbacObjects(beta), (error: unknown) => isRbacError(error, 'INVALID_OBJECT') && /old\.yaml#1: .*apiVersion/.test(error.message));
  const audit = parsePolicyYaml('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n', 'audit.yaml');
  assert.deepEqual(selectRbacObjects(audit), { rbac: [], others: audit });
  const anonymous = parsePolicyYaml('metadata: { name: x }\n', 'x.yaml');
  assert.throws(() => selectRbacObjects(anonymous), (error: unknown) => isRbacError(error, 'INVALID_POLICY_FILE') && /x\.yaml#1: .*apiVersion and kind/.test(error.message));
});

test('an object defined twice is refused, naming both places', () => {
  const documents = [...parsePolicyYaml(clusterRoleYaml('r'), 'one.yaml'), ...parsePolicyYaml(clusterRoleYaml('r'), 'two.yaml')];
  assert.throws(() => selectRbacObjects(documents), (error: unknown) =>
    isRbacError(error, 'DUPLICATE_OBJECT') && error.message === 'two.yaml#1: ClusterRole "r" is already defined at one.yaml#1');
});

test('a directory: only its *.yaml and *.yml files, in name order, hidden files skipped; a single file works too', async () => {
  const sub = join(dir, 'set');
  // A directory named like a policy file is not read as one.
  await mkdir(join(sub, 'nested.yaml'), { recursive: true });
  await writeFile(join(sub, 'b.yml'), clusterRoleYaml('from-b'));
  await writeFile(join(sub, 'a.yaml'), clusterRoleYaml('from-a'));
  await writeFile(join(sub, 'c.txt'), clusterRoleYaml('from-c'));
  await writeFile(join(sub, '.hidden.yaml'), clusterRoleYaml('hidden'));
  const { rbac } = await loadPolicies(sub);
  assert.deepEqual(rbac.map((o) => o.metadata.name), ['from-a', 'from-b']);
  const single = await readPolicyDocuments(join(sub, 'b.yml'));
  assert.deepEqual(single.map((d) => d.source), [`${join(sub, 'b.yml')}#1`]);
});

test('a missing path is POLICY_UNREADABLE; a file over policyFileBytesMax is LIMIT_EXCEEDED', async () => {
  await assert.rejects(readPolicyDocuments(join(dir, 'no-such-dir')), (error: unknown) => isRbacError(error, 'POLICY_UNREADABLE') && /ENOENT/.test(error.message));
  const big = join(dir, 'big.yaml');
  await writeFile(big, `# ${'x'.repeat(policyFileBytesMax)}\n`);
  await assert.rejects(readPolicyDocuments(big), (error: unknown) => isRbacError(error, 'LIMIT_EXCEEDED') && /policyFileBytesMax/.test(error.message));
});
