// The RBAC policy follows the store whatever the RBAC objects total, and never stays stale silently.
//
// Until 2026-12-06 the policy holder re-read every RBAC object with one unbounded store range on each RBAC
// change. A namespace admin (roles and rolebindings '*' in its namespace through a RoleBinding, the usual
// Kubernetes delegation) wrote ~72 Roles of ~0.9 MiB; past rangeResultBytesMax (64 MiB) the range was
// refused: every RBAC write then answered 413 yet was stored, deleting a RoleBinding (revocation) and new
// grants no longer took effect, a restarted member could not start its API, and each write re-read and
// recompiled everything (1.3–1.7 s of blocked event loop per write near 64 MiB, 70 s for the 72 writes).
// Now the policy reads pages at one revision and only what changed; a caller outside system:masters is
// refused (413, nothing stored) past rbacObjectsBytesMax; system:masters may go past it, and everything
// still works. A read that fails is retried and reported on /readyz, and a write waiting for the policy
// is answered as what it is: stored, with a Warning that the policy does not include it yet.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { KvBackend } from '../../../src/api/index.ts';
import type { MvccReader } from '../../../src/api/kv/backend.ts';
import { rangeResultBytesMax, rbacObjectsBytesMax } from '../../../src/config/index.ts';
import { prefixEnd } from '../../../src/storage/mvcc/index.ts';
import { who } from '../audit-api/attacker.ts';
import { admin, type AuditedCluster, type AuditedMember, startAudited } from '../audit-api/harness.ts';

const rbac = '/apis/rbac.authorization.k8s.io/v1';
const nsadmin = who('nsadmin');
const rejections: string[] = [];
const onRejection = (reason: unknown) => { rejections.push(String((reason as Error)?.message ?? reason).slice(0, 200)); };

// Reads of the policy holder's store fail while `failing` (the holder is the only reader of mvcc().range).
let failing = false;
const readers = new WeakMap<MvccReader, MvccReader>();
function failingReads(backend: KvBackend): KvBackend {
  return {
    ...backend,
    mvcc: () => {
      const reader = backend.mvcc();
      let wrapped = readers.get(reader);
      if (wrapped === undefined) {
        wrapped = { ...reader, range: (...args) => (failing ? Promise.reject(Object.assign(new Error('injected read failure'), { code: 'E_INJECTED' })) : reader.range(...args)) };
        readers.set(reader, wrapped);
      }
      return wrapped;
    },
  };
}

let audited: AuditedCluster;
let m1: AuditedMember;
before(async () => {
  process.on('unhandledRejection', onRejection);
  audited = await startAudited(1, {}, undefined, undefined, {}, failingReads);
  m1 = audited.members[0]!;
  const rules = [
    { apiGroups: [''], resources: ['configmaps'], verbs: ['*'] },
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['*'] },
  ];
  assert.equal((await post(`${rbac}/clusterroles`, { metadata: { name: 'ns-admin' }, rules }, admin)).statusCode, 201);
  assert.equal((await post(`${rbac}/namespaces/default/rolebindings`, binding('nsadmin', 'ns-admin', 'nsadmin'), admin)).statusCode, 201);
});
after(async () => {
  process.off('unhandledRejection', onRejection);
  await audited.close();
});

function post(url: string, payload: unknown, headers: Record<string, string>) {
  return m1.app.inject({ method: 'POST', url, headers, payload: payload as object });
}
function binding(name: string, clusterRole: string, user: string) {
  return { metadata: { name }, subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole } };
}
const createConfigMap = async (name: string) => (await post('/api/v1/namespaces/default/configmaps', { metadata: { name } }, nsadmin)).statusCode;
const listConfigMaps = async (user: string) => (await m1.app.inject({ method: 'GET', url: '/api/v1/namespaces/default/configmaps', headers: who(user) })).statusCode;

/** A Role of ~1.38 MB (near the request body limit) of rules the namespace admin holds, so the escalation check passes. */
function bigRole(name: string) {
  const names = (r: number) => Array.from({ length: 230 }, (_, i) => `r${r}-${String(i).padStart(4, '0')}-${'n'.repeat(990)}`);
  return { metadata: { name }, rules: [0, 1, 2, 3, 4, 5].map((r) => ({ apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: names(r) })) };
}

/** Key and value bytes of every RBAC object in the store, read in small steps. */
async function rbacBytesStored(): Promise<number> {
  let bytes = 0;
  for (const resource of ['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings']) {
    const prefix = new TextEncoder().encode(`/registry/${resource}/`);
    let start = prefix;
    for (;;) {
      const page = await m1.backend.range(start, prefixEnd(prefix), { limit: 8, linearizable: false });
      for (const kv of page.kvs) bytes += kv.key.length + kv.value.length;
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || last === undefined) break;
      start = new Uint8Array([...last.key, 0]);
    }
  }
  return bytes;
}

test('past 64 MiB of RBAC objects: a write over rbacObjectsBytesMax is refused unstored, revocation and new grants take effect, a restart serves', async () => {
  assert.equal(await createConfigMap('before'), 201);
  // The namespace admin writes big Roles until the limit refuses one.
  let written = 0;
  let refused;
  for (let i = 0; i < 60; i++) {
    const answer = await post(`${rbac}/namespaces/default/roles`, bigRole(`big-${i}`), nsadmin);
    if (answer.statusCode !== 201) {
      refused = answer;
      break;
    }
    assert.equal(answer.headers.warning, undefined, 'the policy includes each write when it is answered');
    written++;
  }
  assert.ok(refused !== undefined, 'rbacObjectsBytesMax refused a write');
  assert.equal(refused.statusCode, 413, refused.body);
  const status = refused.json<{ reason: string; message: string }>();
  assert.equal(status.reason, 'RequestEntityTooLarge');
  assert.match(status.message, /rbacObjectsBytesMax/);
  assert.ok(written >= 40, `${written} Roles were written before the limit`);
  // The refused write is not stored.
  assert.equal((await m1.app.inject({ method: 'GET', url: `${rbac}/namespaces/default/roles/big-${written}`, headers: admin })).statusCode, 404);
  assert.ok(await rbacBytesStored() <= rbacObjectsBytesMax);

  // system:masters is not held to the limit: its writes take the RBAC objects past 64 MiB.
  for (let i = 0; i < 4; i++) {
    const answer = await post(`${rbac}/namespaces/default/roles`, bigRole(`admin-${i}`), admin);
    assert.equal(answer.statusCode, 201, answer.body.slice(0, 300));
    assert.equal(answer.headers.warning, undefined);
  }
  const total = await rbacBytesStored();
  assert.ok(total > rangeResultBytesMax, `the RBAC objects total ${total} bytes, more than one store range may return`);

  // Revocation takes effect at once, and so does a new grant.
  const revoke = await m1.app.inject({ method: 'DELETE', url: `${rbac}/namespaces/default/rolebindings/nsadmin`, headers: admin });
  assert.equal(revoke.statusCode, 200, revoke.body.slice(0, 300));
  assert.equal(revoke.headers.warning, undefined);
  assert.equal(await createConfigMap('after'), 403, 'the revoked namespace admin is refused on its next request');
  const grant = await post(`${rbac}/clusterrolebindings`, binding('late', 'viewer', 'late'), admin);
  assert.equal(grant.statusCode, 201, grant.body.slice(0, 300));
  assert.equal(await listConfigMaps('late'), 200, 'a new grant takes effect on the next request');

  // A restart (the app rebuilt, its policy read from the store) serves, with the same policy.
  await m1.reopen();
  assert.equal(await createConfigMap('after-restart'), 403);
  assert.equal(await listConfigMaps('late'), 200);
  const ready = await m1.app.inject({ method: 'GET', url: '/readyz?verbose', headers: admin });
  assert.equal(ready.statusCode, 200, ready.body);
  assert.match(ready.body, /^\[\+\]rbac-policy ok$/m);
  assert.deepEqual(rejections, []);
});

test('a policy that cannot read the store: the write is answered stored with a Warning, /readyz says why, and the policy catches up once reads work', async () => {
  failing = true;
  try {
    const started = performance.now();
    const answer = await post(`${rbac}/clusterrolebindings`, binding('while-failing', 'viewer', 'patient'), admin);
    assert.equal(answer.statusCode, 201, 'the write was made: it is not reported as failed');
    assert.match(String(answer.headers.warning), /^299 - ".*does not include it yet/);
    assert.ok(performance.now() - started < 10_000, 'the wait for the policy is bounded');
    assert.equal((await m1.app.inject({ method: 'GET', url: `${rbac}/clusterrolebindings/while-failing`, headers: admin })).statusCode, 200, 'stored');
    assert.equal(await listConfigMaps('patient'), 403, 'not in force on this member yet');
    const ready = await m1.app.inject({ method: 'GET', url: '/readyz?verbose', headers: admin });
    assert.equal(ready.statusCode, 503);
    assert.match(ready.body, /^\[-\]rbac-policy failed: .*E_INJECTED/m);
  } finally {
    failing = false;
  }
  // Retried on its own: in force, and ready, within a second or so.
  const deadline = performance.now() + 10_000;
  while (await listConfigMaps('patient') !== 200) {
    assert.ok(performance.now() < deadline, 'the policy caught up once reads worked again');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal((await m1.app.inject({ method: 'GET', url: '/readyz', headers: admin })).statusCode, 200);
  assert.deepEqual(rejections, []);
});
