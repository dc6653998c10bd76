/**
 * The keys admin routes on the client API (app.inject, identity from headers), over a real in-process
 * replica for RBAC and a member keyring + store of their own for the keys: only `system:masters` may
 * use them, bad rotate-kek bodies get a Status and change nothing, status shows pages per DEK, and a
 * rotate-dek through the API ends with the old DEK retired.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type ApiAudit, buildClientApi, routeTable } from '../../../src/api/index.ts';
import { keyAdministration } from '../../../src/api/route-config.ts';
import type { AuditEventInput } from '../../../src/audit/index.ts';
import { realClock } from '../../../src/base/index.ts';
import { newPassphraseCharsMin } from '../../../src/config/index.ts';
import { createKeyFile, type Keyring, keyFileKek, openKeyring, passphraseKek, SealedError } from '../../../src/crypto/index.ts';
import { loadPolicies } from '../../../src/rbac/index.ts';
import { bootstrapRegistry } from '../../../src/registry/index.ts';
import { MemberKeys } from '../../../src/storage/barrier/index.ts';
import { MvccStore } from '../../../src/storage/mvcc/index.ts';
import { call, policiesDir } from '../k8s/harness.ts';
import { backendOf, InProcessCluster } from '../replication/harness.ts';

const alice = { 'x-user': 'alice', 'x-groups': 'developers' };
const encoder = new TextEncoder();
const log = { info: () => undefined, warn: () => undefined };
const pagesWritten = 300;

let cluster: InProcessCluster;
let app: FastifyInstance;
let root: string;
let keyFile: string;
let keyring: Keyring;
let store: MvccStore;
let keys: MemberKeys;

before(async () => {
  cluster = await InProcessCluster.start(1);
  await cluster.leader();
  const backend = backendOf(cluster.replica(1));
  await bootstrapRegistry(backend, (await loadPolicies(policiesDir)).rbac);
  root = await mkdtemp(path.join(tmpdir(), 'coffer-keys-api-'));
  keyFile = path.join(root, 'kek.key');
  await createKeyFile(keyFile);
  keyring = await openKeyring({ dir: path.join(root, 'data'), kek: await keyFileKek(keyFile) });
  store = await MvccStore.open({ dir: path.join(root, 'data', 'mvcc'), sealer: keyring, storeId: 'm1/mvcc' });
  for (let i = 0; i < pagesWritten; i++) await store.put(encoder.encode(`/k/${i}`), encoder.encode(`v${i}`));
  keys = new MemberKeys({ member: 'm1', dataDir: path.join(root, 'data'), keyring, store: () => store, clock: realClock, log });
  app = buildClientApi({ backend, identify: identifyByHeaders, keys });
  await app.ready();
});

after(async () => {
  await app.close();
  await keys.close();
  await store.close();
  await keyring.close();
  await cluster.close();
  await rm(root, { recursive: true, force: true });
});

interface KeysBody {
  kind: string;
  member: string;
  kek: { source: string; description: string };
  activeDekId: number;
  deks: { id: number; pages: number; active: boolean }[];
  retired: { id: number }[];
  reencryption: { pagesOnOlderDeks: number };
  dekId?: number;
  message: string;
  reason?: string;
  code?: number;
}

const body = (reply: { body: unknown }) => reply.body as KeysBody;

function identifyByHeaders(request: { headers: Record<string, string | string[] | undefined> }) {
  const user = request.headers['x-user'];
  if (typeof user !== 'string') return undefined;
  const groups = request.headers['x-groups'];
  return { user, groups: typeof groups === 'string' && groups !== '' ? groups.split(',') : [], kind: 'client' as const };
}

test('a caller outside system:masters gets 403 on every keys route', async () => {
  // The gate refuses them whatever RBAC grants (route config mastersOnly): the route table marks each.
  const marked = routeTable(app).filter((route) => route.mastersOnly === keyAdministration).map((route) => `${route.method} ${route.url}`);
  assert.deepEqual(marked.sort(), ['GET /apis/coffer.dev/v1/keys', 'HEAD /apis/coffer.dev/v1/keys', 'POST /apis/coffer.dev/v1/keys/rotate-dek', 'POST /apis/coffer.dev/v1/keys/rotate-kek']);
  for (const [method, url] of [['GET', '/apis/coffer.dev/v1/keys'], ['POST', '/apis/coffer.dev/v1/keys/rotate-dek'], ['POST', '/apis/coffer.dev/v1/keys/rotate-kek']] as const) {
    const reply = await call(app, method, url, method === 'POST' ? { passphrase: 'p' } : undefined, alice);
    assert.equal(reply.status, 403, `${method} ${url}`);
    assert.equal(body(reply).kind, 'Status');
    assert.equal(body(reply).reason, 'Forbidden');
  }
  assert.deepEqual(keyring.status().deks.map((d) => d.id), [1], 'nothing was rotated');
});

test('status shows the member, its KEK, the active DEK and the pages sealed with each DEK', async () => {
  const reply = await call(app, 'GET', '/apis/coffer.dev/v1/keys');
  assert.equal(reply.status, 200);
  const s = body(reply);
  assert.equal(s.kind, 'MemberKeys');
  assert.equal(s.member, 'm1');
  assert.equal(s.kek.source, 'keyFile');
  assert.equal(s.activeDekId, 1);
  assert.deepEqual(s.deks.map((d) => [d.id, d.pages, d.active]), [[1, pagesWritten + 1, true]], 'every page plus the meta record');
});

test('bad rotate-kek bodies get a Status (400/422), echo no secret and change nothing', async () => {
  const before = await readFile(path.join(root, 'data', 'keyring.json'), 'utf8');
  const cases: [unknown, number][] = [
    [[], 422], [{}, 422], [{ passphrase: '' }, 422], [{ passphrase: 7 }, 422], [{ unsealKey: 'not base64!' }, 422],
    [{ passphrase: 'secret-one', unsealKey: 'AAAA' }, 422], [{ passphrase: 'secret-two', extra: 1 }, 422],
    [{ unsealKey: Buffer.from('secret-three').toString('base64') }, 422], ['{"passphrase": "secret-four"', 400],
  ];
  for (const [payload, code] of cases) {
    const reply = await call(app, 'POST', '/apis/coffer.dev/v1/keys/rotate-kek', payload);
    assert.equal(reply.status, code, JSON.stringify(payload));
    assert.equal(body(reply).kind, 'Status');
    assert.equal(body(reply).code, code);
    assert.ok(!/secret-|AAAA/.test(JSON.stringify(reply.body)), `no secret in ${JSON.stringify(reply.body)}`);
  }
  assert.equal(await readFile(path.join(root, 'data', 'keyring.json'), 'utf8'), before, 'the keyring file is unchanged');
});

test('a rotate-kek body never reaches the audit log, though the request is recorded', async (t) => {
  // The audit seam: the inputs the API hands to the audit log (the core keeps bodies at levels
  // Request/RequestResponse, so the API must not hand this one over at all).
  const inputs: AuditEventInput[] = [];
  const audit: ApiAudit = {
    member: 'm1',
    record: (input) => { inputs.push(input); return Promise.resolve(); },
    shape: (input) => { inputs.push(input); return undefined; },
    queryLocal: () => Promise.resolve({ events: [], truncated: false }),
    verifyLocal: () => Promise.reject(new Error('not used')),
    askMember: () => Promise.reject(new Error('not used')),
    problems: () => [],
  };
  const audited = buildClientApi({ backend: backendOf(cluster.replica(1)), audit, identify: identifyByHeaders, keys });
  await audited.ready();
  t.after(() => audited.close());
  // A body the route refuses (extra field) after the audit step has run: nothing changes, but its
  // records are written with whatever the API handed over.
  const reply = await call(audited, 'POST', '/apis/coffer.dev/v1/keys/rotate-kek', { passphrase: 'audit-marker-pass', extra: 1 });
  assert.equal(reply.status, 422);
  const mine = inputs.filter((input) => input.requestURI === '/apis/coffer.dev/v1/keys/rotate-kek');
  assert.deepEqual(mine.map((input) => input.stage), ['RequestReceived', 'ResponseComplete']);
  assert.ok(mine.every((input) => input.requestObject === undefined), 'no request body handed to the audit log');
  assert.ok(!JSON.stringify(inputs).includes('audit-marker-pass'));
  // A resource write with a body on the same app still hands its body over (the option is per route).
  await call(audited, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'audited-body' }, data: { a: '1' } });
  assert.ok(inputs.some((input) => input.objectRef?.name === 'audited-body' && input.requestObject !== undefined));
});

test('rotate-dek answers at once with the new DEK; after the background pass the old DEK is retired', async () => {
  const reply = await call(app, 'POST', '/apis/coffer.dev/v1/keys/rotate-dek', {});
  assert.equal(reply.status, 200);
  assert.equal(body(reply).dekId, 2);
  await keys.whenReencrypted();
  await keys.retireUnused();
  const s = body(await call(app, 'GET', '/apis/coffer.dev/v1/keys'));
  assert.equal(s.activeDekId, 2);
  assert.deepEqual(s.deks.map((d) => [d.id, d.pages]), [[2, pagesWritten + 1]]);
  assert.deepEqual(s.retired.map((r) => r.id), [1]);
  assert.equal(s.reencryption.pagesOnOlderDeks, 0);
});

test('rotate-kek refuses a new passphrase shorter than newPassphraseCharsMin with 422, naming its length only, and the keyring stays as it was', { timeout: 60_000 }, async () => {
  const short = 'short-pass!'; // newPassphraseCharsMin - 1 characters
  assert.equal(short.length, newPassphraseCharsMin - 1);
  const reply = await call(app, 'POST', '/apis/coffer.dev/v1/keys/rotate-kek', { passphrase: short });
  assert.equal(reply.status, 422);
  assert.match(body(reply).message, new RegExp(`the passphrase is ${newPassphraseCharsMin - 1} characters; a new keyring needs at least ${newPassphraseCharsMin}`));
  assert.ok(!JSON.stringify(reply.body).includes(short), 'the passphrase is not echoed');
  const still = await openKeyring({ dir: path.join(root, 'data'), kek: await keyFileKek(keyFile), createIfMissing: false });
  await still.close();
});

test('rotate-kek with a passphrase rewraps the keyring and tells the operator to start with the new passphrase', { timeout: 60_000 }, async () => {
  const reply = await call(app, 'POST', '/apis/coffer.dev/v1/keys/rotate-kek', { passphrase: 'the new passphrase' });
  assert.equal(reply.status, 200);
  assert.equal(body(reply).kind, 'KeyRotation');
  assert.match(body(reply).message, /start this member next time with the new passphrase/);
  assert.ok(!JSON.stringify(reply.body).includes('the new passphrase"'), 'the passphrase is not echoed');
  const reopened = await openKeyring({ dir: path.join(root, 'data'), kek: passphraseKek('the new passphrase'), createIfMissing: false });
  await reopened.close();
  await assert.rejects(openKeyring({ dir: path.join(root, 'data'), kek: await keyFileKek(keyFile), createIfMissing: false }), SealedError);
});
