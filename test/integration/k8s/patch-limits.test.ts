// What one PATCH may cost the member, through app.inject() over one audited member: a JSON patch holds
// at most jsonPatchOperationsMax operations and may not grow the object past valueBytesMax (counting
// every value it adds, replaces or copies, so a copy that doubles the object is refused long before it
// exhausts memory) nor move more than jsonPatchArrayShiftsMax array elements; its `test` compares as
// RFC 6902 says; and a body of any kind nested deeper than
// requestBodyDepthMax is refused 400, not answered 500 from a stack overflow. A refusal changes nothing,
// is a Kubernetes Status, and is audited as every request is.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jsonPatchArrayShiftsMax, jsonPatchOperationsMax, requestBodyDepthMax, valueBytesMax } from '../../../src/config/index.ts';
import { assertRefused, grant, type RefusedAnswer, userState, who } from '../audit-api/attacker.ts';
import { admin, type AuditedCluster, type AuditedMember, startAudited } from '../audit-api/harness.ts';

let audited: AuditedCluster;
let member: AuditedMember;
const patcher = who('patcher');
const ns = '/api/v1/namespaces/default';
const target = `${ns}/configmaps/target`;
const jsonPatch = 'application/json-patch+json';

type Answer = RefusedAnswer;

async function send(method: 'POST' | 'PUT' | 'PATCH', url: string, payload: string, contentType: string, headers = patcher): Promise<Answer> {
  const response = await member.app.inject({ method, url, headers: { ...headers, 'content-type': contentType }, payload });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>(), auditID: response.headers['audit-id'] as string | undefined };
}


before(async () => {
  audited = await startAudited(1);
  member = audited.members[0]!;
  await grant(member.app, 'cm-patcher', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'create', 'update', 'patch'] }], 'patcher');
  const created = await send('POST', `${ns}/configmaps`, JSON.stringify({ metadata: { name: 'target', labels: { a: '1', b: '2' } }, data: { a: 'b' } }), 'application/json', admin);
  assert.equal(created.status, 201, JSON.stringify(created.body));
});
after(async () => { await audited.close(); });

test('the finding: 40 copies in a patch under 2 KB, each doubling /x (2^40 nodes), are refused 413 once the object would pass valueBytesMax', { timeout: 20_000 }, async () => {
  const operations: unknown[] = [{ op: 'add', path: '/x', value: ['a'] }];
  for (let i = 0; i < 40; i++) operations.push({ op: 'copy', from: '/x', path: '/x/-' });
  const body = JSON.stringify(operations);
  assert.ok(body.length < 2048);
  const before = await userState(member);
  const answer = await send('PATCH', target, body, jsonPatch);
  await assertRefused(member, answer, 413, 'RequestEntityTooLarge', new RegExp(`^JSON patch operation (1\\d|2\\d): the object would be larger than ${valueBytesMax} bytes`), before);
});

test('adds, replaces and copies are counted as they are applied: the operation that would take the object past valueBytesMax is refused 413', async () => {
  const third = 'x'.repeat(Math.floor(valueBytesMax / 3));
  const before = await userState(member);
  const copied = await send('PATCH', target, JSON.stringify([
    { op: 'add', path: '/data/big', value: third }, { op: 'copy', from: '/data/big', path: '/data/copy1' }, { op: 'copy', from: '/data/big', path: '/data/copy2' },
  ]), jsonPatch);
  await assertRefused(member, copied, 413, 'RequestEntityTooLarge', new RegExp(`^JSON patch operation 2: the object would be larger than ${valueBytesMax} bytes`), before);
  // What a patch removes is not subtracted: copying and removing in turn would otherwise repeat the copy's work without end.
  const twoFifths = 'x'.repeat(Math.floor(valueBytesMax * 0.4));
  const copyRemoveCopy = await send('PATCH', target, JSON.stringify([
    { op: 'add', path: '/data/big', value: twoFifths }, { op: 'copy', from: '/data/big', path: '/data/copy1' }, { op: 'remove', path: '/data/copy1' },
    { op: 'copy', from: '/data/big', path: '/data/copy2' },
  ]), jsonPatch);
  await assertRefused(member, copyRemoveCopy, 413, 'RequestEntityTooLarge', /^JSON patch operation 3: /, before);
  // Below it, a copy is applied as before.
  const small = await send('PATCH', target, JSON.stringify([{ op: 'copy', from: '/data/a', path: '/data/c' }]), jsonPatch);
  assert.equal(small.status, 200, JSON.stringify(small.body));
  assert.deepEqual(small.body.data, { a: 'b', c: 'b' });
});

test(`more than jsonPatchOperationsMax (${jsonPatchOperationsMax}) operations are refused 413 before any is applied; exactly that many are applied`, async () => {
  // The finding's second body: 37,838 `add /x/0` in 1.4 MB.
  const many: unknown[] = [{ op: 'add', path: '/x', value: [] }];
  while (many.length < 37_838) many.push({ op: 'add', path: '/x/0', value: 'a' });
  const before = await userState(member);
  const refused = await send('PATCH', target, JSON.stringify(many), jsonPatch);
  await assertRefused(member, refused, 413, 'RequestEntityTooLarge', new RegExp(`^a JSON patch may hold at most ${jsonPatchOperationsMax} operations; this one holds 37838$`), before);
  const atLimit: unknown[] = [];
  while (atLimit.length < jsonPatchOperationsMax - 1) atLimit.push({ op: 'test', path: '/data/a', value: 'b' });
  atLimit.push({ op: 'add', path: '/data/d', value: 'e' });
  const applied = await send('PATCH', target, JSON.stringify(atLimit), jsonPatch);
  assert.equal(applied.status, 200, JSON.stringify(applied.body).slice(0, 400));
  assert.equal((applied.body.data as Record<string, string>).d, 'e');
});

test(`the array elements inserts and removals move are counted: past jsonPatchArrayShiftsMax (${jsonPatchArrayShiftsMax}) the patch is refused 413; appends move none`, async () => {
  const long = Array(300_000).fill(0);
  const inserts: unknown[] = [{ op: 'add', path: '/x', value: long }];
  while (inserts.length < 100) inserts.push({ op: 'add', path: '/x/0', value: 1 });
  const before = await userState(member);
  const refused = await send('PATCH', target, JSON.stringify(inserts), jsonPatch);
  // Operation k (from 1) moves the 300,000 + k - 1 elements after index 0.
  await assertRefused(member, refused, 413, 'RequestEntityTooLarge', new RegExp(`^JSON patch operation 35: the patch would move more than ${jsonPatchArrayShiftsMax} array elements`), before);
  const removals = [{ op: 'add', path: '/x', value: long }, ...Array.from({ length: 100 }, () => ({ op: 'remove', path: '/x/0' }))];
  await assertRefused(member, await send('PATCH', target, JSON.stringify(removals), jsonPatch), 413, 'RequestEntityTooLarge', /^JSON patch operation 35: /, before);
  const appends: unknown[] = [{ op: 'add', path: '/x', value: long }];
  while (appends.length < jsonPatchOperationsMax - 1) appends.push({ op: 'add', path: '/x/-', value: 1 });
  appends.push({ op: 'remove', path: '/x' });
  const applied = await send('PATCH', target, JSON.stringify(appends), jsonPatch);
  assert.equal(applied.status, 200, JSON.stringify(applied.body).slice(0, 400));
});

test('test compares JSON values as RFC 6902 does: an object\'s members in any order', async () => {
  const reordered = await send('PATCH', target, JSON.stringify([
    { op: 'test', path: '/metadata/labels', value: { b: '2', a: '1' } }, { op: 'add', path: '/metadata/labels/tested', value: 'yes' },
  ]), jsonPatch);
  assert.equal(reordered.status, 200, JSON.stringify(reordered.body));
  assert.deepEqual((reordered.body.metadata as { labels: unknown }).labels, { a: '1', b: '2', tested: 'yes' });
  const before = await userState(member);
  for (const value of [{ a: '1', b: '2' }, { a: '1', b: '2', tested: 'yes', more: 'x' }, ['1', '2', 'yes'], '1']) {
    const answer = await send('PATCH', target, JSON.stringify([{ op: 'test', path: '/metadata/labels', value }]), jsonPatch);
    await assertRefused(member, answer, 422, 'Invalid', /^JSON patch operation 0: test failed at \/metadata\/labels$/, before);
  }
});

/** `{"x":{"x":…1…}}`, `levels` objects deep. */
const nested = (levels: number): string => `${'{"x":'.repeat(levels - 1)}{"x":1}${'}'.repeat(levels - 1)}`;

test(`a body nested deeper than requestBodyDepthMax (${requestBodyDepthMax}) is refused 400, whatever its kind; one at the limit is read`, { timeout: 20_000 }, async () => {
  const deep = 200_000;
  const bodies = (levels: number): Array<[method: 'POST' | 'PUT' | 'PATCH', url: string, body: string, contentType: string]> => [
    ['PATCH', target, `{"data":{"a":"merged"},"x":${nested(levels - 1)}}`, 'application/merge-patch+json'],
    ['PATCH', target, `{"data":{"a":"merged"},"x":${nested(levels - 1)}}`, 'application/strategic-merge-patch+json'],
    ['PATCH', target, `[{"op":"add","path":"/x","value":${nested(levels - 2)}}]`, jsonPatch],
    ['PUT', target, `{"metadata":{"name":"target"},"data":{"a":"put"},"x":${nested(levels - 1)}}`, 'application/json'],
    ['POST', `${ns}/configmaps`, `{"metadata":{"name":"nested"},"x":${nested(levels - 1)}}`, 'application/json'],
  ];
  const before = await userState(member);
  for (const [method, url, body, contentType] of bodies(deep)) {
    const answer = await send(method, url, body, contentType);
    await assertRefused(member, answer, 400, 'BadRequest', new RegExp(`^the request body is nested deeper than ${requestBodyDepthMax} levels$`), before);
  }
  for (const [method, url, body, contentType] of bodies(requestBodyDepthMax + 1)) {
    const answer = await send(method, url, body, contentType);
    await assertRefused(member, answer, 400, 'BadRequest', /nested deeper/, before);
  }
  // At the limit the body is read, and the unknown field dropped as always.
  for (const [method, url, body, contentType] of bodies(requestBodyDepthMax)) {
    const answer = await send(method, url, body, contentType);
    assert.ok(answer.status === 200 || answer.status === 201, `${method} ${contentType}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
    assert.equal(answer.body.x, undefined);
  }
});
