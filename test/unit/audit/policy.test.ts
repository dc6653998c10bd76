import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AuditPolicy, type AuditRequestAttributes, AuditPolicyError, evaluateAuditPolicy, parseAuditPolicy,
} from '../../../src/audit/index.ts';
import { defaultPolicy } from './helpers.ts';

const resource = (verb: string, res: string, extra: Partial<NonNullable<AuditRequestAttributes['resource']>> = {}, user = 'alice', groups = ['dev']): AuditRequestAttributes => ({
  user, groups, verb, path: `/api/v1/${res}`, resource: { group: '', resource: res, namespace: 'default', ...extra },
});
const nonResource = (path: string, verb = 'get'): AuditRequestAttributes => ({ user: 'alice', groups: [], verb, path });

test('the default policy records Secret reads at Metadata and Secret writes at Request', async () => {
  const policy = await defaultPolicy();
  assert.equal(evaluateAuditPolicy(policy, resource('get', 'secrets')).level, 'Metadata');
  assert.equal(evaluateAuditPolicy(policy, resource('list', 'secrets')).level, 'Metadata');
  assert.equal(evaluateAuditPolicy(policy, resource('create', 'secrets')).level, 'Request');
  assert.equal(evaluateAuditPolicy(policy, resource('patch', 'secrets')).level, 'Request');
  assert.equal(evaluateAuditPolicy(policy, resource('create', 'secrets', { group: 'coffer.dev', subresource: 'rotate' })).level, 'Request');
});

test('the default policy records RBAC writes with both bodies, probes not at all, anything else at Metadata', async () => {
  const policy = await defaultPolicy();
  assert.equal(evaluateAuditPolicy(policy, resource('create', 'clusterrolebindings', { group: 'rbac.authorization.k8s.io', namespace: undefined })).level, 'RequestResponse');
  assert.equal(evaluateAuditPolicy(policy, resource('create', 'configmaps')).level, 'Request');
  assert.equal(evaluateAuditPolicy(policy, resource('get', 'configmaps')).level, 'Metadata');
  assert.equal(evaluateAuditPolicy(policy, nonResource('/healthz')).level, 'None');
  // Exact paths only: a made-up path under a probe's name is recorded like any other request.
  assert.equal(evaluateAuditPolicy(policy, nonResource('/readyz/leader')).level, 'Metadata');
  assert.equal(evaluateAuditPolicy(policy, nonResource('/healthzzz')).level, 'Metadata');
  assert.equal(evaluateAuditPolicy(policy, nonResource('/version')).level, 'Metadata');
  assert.deepEqual([...evaluateAuditPolicy(policy, nonResource('/version')).omitStages], ['RequestReceived', 'ResponseStarted']);
});

test('a refused request is recorded at Metadata even where a rule says None', async () => {
  const policy = await defaultPolicy();
  assert.equal(evaluateAuditPolicy(policy, { ...nonResource('/healthz'), decision: 'allow' }).level, 'None');
  assert.equal(evaluateAuditPolicy(policy, { ...nonResource('/healthz'), decision: 'forbid' }).level, 'Metadata');
});

test('clearConfigMapValues is an explicit opt-in of a rule, checked when the policy is read', () => {
  const policy = policyOf(`rules:
  - level: Request
    resources: [{ group: "", resources: [configmaps] }]
    namespaces: [public]
    clearConfigMapValues: true
  - level: Request
`);
  assert.equal(evaluateAuditPolicy(policy, resource('update', 'configmaps', { namespace: 'public' })).clearConfigMapValues, true);
  assert.equal(evaluateAuditPolicy(policy, resource('update', 'configmaps', { namespace: 'team-a' })).clearConfigMapValues, false);
  assert.throws(() => policyOf('rules:\n  - level: Request\n    clearConfigMapValues: "yes"\n'), /clearConfigMapValues must be true or false/);
});

function policyOf(yaml: string): AuditPolicy {
  return parseAuditPolicy(`apiVersion: audit.k8s.io/v1\nkind: Policy\n${yaml}`);
}

test('rules are tried in order and the first match wins', () => {
  const policy = policyOf(`rules:
  - level: None
    users: [bob]
  - level: RequestResponse
    users: [bob, alice]
  - level: Request
`);
  assert.equal(evaluateAuditPolicy(policy, resource('get', 'configmaps', {}, 'bob')).level, 'None');
  assert.equal(evaluateAuditPolicy(policy, resource('get', 'configmaps', {}, 'alice')).level, 'RequestResponse');
  assert.equal(evaluateAuditPolicy(policy, resource('get', 'configmaps', {}, 'carol')).level, 'Request');
});

test('a request no rule matches is recorded at Metadata (Coffer audits everything unless told None)', () => {
  const policy = policyOf(`rules:\n  - level: None\n    users: [bob]\n`);
  assert.equal(evaluateAuditPolicy(policy, resource('get', 'configmaps')).level, 'Metadata');
});

test('rules match by user group, verb, namespace, group/resource, subresource and resource name', () => {
  const policy = policyOf(`rules:
  - level: RequestResponse
    userGroups: [auditors]
  - level: Request
    verbs: [delete]
    namespaces: [prod]
  - level: None
    resources:
      - group: ""
        resources: ["*/status"]
  - level: Request
    resources:
      - group: ""
        resources: [configmaps]
        resourceNames: [special]
  - level: None
    resources:
      - group: apps
  - level: Metadata
`);
  const at = (a: AuditRequestAttributes) => evaluateAuditPolicy(policy, a).level;
  assert.equal(at(resource('get', 'configmaps', {}, 'x', ['auditors'])), 'RequestResponse');
  assert.equal(at(resource('delete', 'configmaps', { namespace: 'prod' })), 'Request');
  assert.equal(at(resource('delete', 'configmaps', { namespace: 'staging' })), 'Metadata');
  assert.equal(at(resource('get', 'namespaces', { subresource: 'status' })), 'None');
  assert.equal(at(resource('get', 'configmaps', { name: 'special' })), 'Request');
  assert.equal(at(resource('get', 'configmaps', { name: 'other' })), 'Metadata');
  assert.equal(at(resource('get', 'deployments', { group: 'apps' })), 'None');
  // A resource rule never matches a non-resource request, and a nonResourceURLs rule never a resource request.
  assert.equal(at(nonResource('/apis')), 'Metadata');
});

test('a nonResourceURLs rule matches exact paths and prefixes ending in *', () => {
  const policy = policyOf(`rules:
  - level: None
    nonResourceURLs: [/metrics, "/debug/*"]
`);
  assert.equal(evaluateAuditPolicy(policy, nonResource('/metrics')).level, 'None');
  assert.equal(evaluateAuditPolicy(policy, nonResource('/metrics/x')).level, 'Metadata');
  assert.equal(evaluateAuditPolicy(policy, nonResource('/debug/pprof')).level, 'None');
  assert.equal(evaluateAuditPolicy(policy, resource('get', 'metrics')).level, 'Metadata');
});

test('a rule adds its omitStages to the policy-wide ones', () => {
  const policy = policyOf(`omitStages: [RequestReceived]
rules:
  - level: Metadata
    verbs: [watch]
    omitStages: [ResponseComplete]
  - level: Metadata
`);
  assert.deepEqual([...evaluateAuditPolicy(policy, resource('watch', 'secrets')).omitStages], ['RequestReceived', 'ResponseComplete']);
  assert.deepEqual([...evaluateAuditPolicy(policy, resource('get', 'secrets')).omitStages], ['RequestReceived']);
});

test('a malformed policy is refused with an error naming the bad value', () => {
  const bad: [string, RegExp][] = [
    ['rules:\n  - level: Everything\n', /level "Everything"/],
    ['rules:\n  - level: None\n    user: [bob]\n', /unknown field "user"/],
    ['omitStages: [Sometimes]\nrules:\n  - level: None\n', /stage "Sometimes"/],
    ['rules: []\n', /non-empty list/],
    ['rules:\n  - level: None\n    verbs: get\n', /verbs must be a list/],
    ['rules:\n  - level: None\n    nonResourceURLs: [/x]\n    namespaces: [a]\n', /cannot be combined/],
  ];
  for (const [yaml, message] of bad) {
    assert.throws(() => policyOf(yaml), (e: unknown) => e instanceof AuditPolicyError && e.code === 'E_AUDIT_POLICY' && message.test(e.message), yaml);
  }
  assert.throws(() => parseAuditPolicy('apiVersion: v1\nkind: Policy\nrules:\n  - level: None\n'), /apiVersion must be audit.k8s.io\/v1/);
  assert.throws(() => parseAuditPolicy('{ not: yaml: ['), AuditPolicyError);
});
