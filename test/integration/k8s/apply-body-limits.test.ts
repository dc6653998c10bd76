// Where and how a YAML body is read, through app.inject() over one audited member: only a PATCH reads
// application/apply-patch+yaml (server-side apply), as the Kubernetes API server does; any other method
// answers 415 without reading it — every caller may POST a self-review, and the YAML parser is slow. An
// applied configuration over applyYamlTokensMax tokens or requestBodyDepthMax levels is refused 400 while
// it is read (unit/api/apply-body.test.ts times it); a key twice is still 400 naming its line. Each refusal
// changes nothing, is a Kubernetes Status, and is audited as every request is.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { applyYamlTokensMax, requestBodyDepthMax } from '../../../src/config/index.ts';
import { assertRefused, grant, type RefusedAnswer, userState, who } from '../audit-api/attacker.ts';
import { type AuditedCluster, type AuditedMember, startAudited } from '../audit-api/harness.ts';

let audited: AuditedCluster;
let member: AuditedMember;
const applier = who('applier');
const ns = '/api/v1/namespaces/default';
const applyType = 'application/apply-patch+yaml';
const config = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: "1"\n';

interface Answer extends RefusedAnswer { ms: number }

async function send(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload: string, headers = applier): Promise<Answer> {
  const started = performance.now();
  const response = await member.app.inject({ method, url, headers: { ...headers, 'content-type': applyType }, payload });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>(), auditID: response.headers['audit-id'] as string | undefined, ms: performance.now() - started };
}


before(async () => {
  audited = await startAudited(1);
  member = audited.members[0]!;
  await grant(member.app, 'cm-applier', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'update', 'patch', 'delete'] }], 'applier');
});
after(async () => { await audited.close(); });

test('the finding: 40,000 keys (400 KB) as apply-patch+yaml, POSTed to selfsubjectaccessreviews by a caller with no grants, are 415 unread', { timeout: 120_000 }, async () => {
  const body = `{${Array.from({ length: 40_000 }, (_, i) => `"k${i}":0`).join(',')}}`;
  const before = await userState(member);
  const answer = await send('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', body, who('nobody'));
  await assertRefused(member, answer, 415, 'UnsupportedMediaType', /application\/apply-patch\+yaml/, before);
  assert.ok(answer.ms < 2_000, `the refusal took ${Math.round(answer.ms)} ms (reading the body took ~25 s)`);
});

test('apply-patch+yaml is read by PATCH alone: POST, PUT and DELETE with it are 415 and change nothing; PATCH applies it', async () => {
  const before = await userState(member);
  for (const [method, url] of [['POST', `${ns}/configmaps`], ['PUT', `${ns}/configmaps/applied`], ['DELETE', `${ns}/configmaps/applied`]] as const) {
    await assertRefused(member, await send(method, url, config), 415, 'UnsupportedMediaType', /./, before);
  }
  const applied = await send('PATCH', `${ns}/configmaps/applied?fieldManager=applier`, config);
  assert.equal(applied.status, 201, JSON.stringify(applied.body));
  assert.deepEqual(applied.body.data, { a: '1' });
});

test('an applied configuration over the token or depth limits, or with a key twice, is refused 400 while it is read', async () => {
  const url = `${ns}/configmaps/applied?fieldManager=applier`;
  const before = await userState(member);
  const tokens = await send('PATCH', url, `${config}${'#\n'.repeat(applyYamlTokensMax)}`);
  await assertRefused(member, tokens, 400, 'BadRequest', new RegExp(`^the applied configuration cannot be read: it holds more than ${applyYamlTokensMax} YAML tokens$`), before);
  const nested = `${config}  b: ${'['.repeat(requestBodyDepthMax)}${']'.repeat(requestBodyDepthMax)}\n`;
  const deep = await send('PATCH', url, nested);
  await assertRefused(member, deep, 400, 'BadRequest', new RegExp(`^the applied configuration cannot be read: it is nested deeper than ${requestBodyDepthMax} levels$`), before);
  const twice = await send('PATCH', url, `${config}  b: "2"\n  a: "3"\n`);
  await assertRefused(member, twice, 400, 'BadRequest', /^the applied configuration cannot be read: a key appears twice \(line 8\)$/, before);
});
