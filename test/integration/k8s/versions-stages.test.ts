// Two-phase rotation over a real replica through app.inject(): rotate with "stage": true keeps the keys
// as the pending stage without touching the Secret (no new resourceVersion, no watch event), the
// pending data is readable for consumers, a second stage replaces the first, promote makes it current
// as a new version (MODIFIED for watchers), nothing pending → 409; stages in the versions list; RBAC
// on stage and promote; and the scheduled-rotation annotations refused when malformed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { asUser, bindClusterRole, call, secret, startApi, type Api, type Body } from './harness.ts';

let api: Api;
before(async () => {
  api = await startApi();
});
after(async () => { await api.close(); });

const core = '/api/v1/namespaces/default/secrets';
const coffer = '/apis/coffer.dev/v1/namespaces/default/secrets';
const b64 = (text: string) => Buffer.from(text).toString('base64');
const text = (value: string | undefined) => Buffer.from(value ?? '', 'base64').toString('utf8');

interface VersionItem { version: number; createdBy: string; current: boolean; stage: string }

async function stages(name: string): Promise<[number, string, string][]> {
  const reply = await call(api.app, 'GET', `${coffer}/${name}/versions`);
  assert.equal(reply.status, 200, reply.body.message);
  return (reply.body.items as unknown as VersionItem[]).map((v) => [v.version, v.stage, v.createdBy]);
}

/** The watch events of one Secret after `rv`, as a pull queue. */
function watchOne(name: string, rv: string): { next: () => Promise<{ type: string; object: Body }>; pending: () => number; close: () => void } {
  const events: { type: string; object: Body }[] = [];
  let wake: (() => void) | undefined;
  let stream: Readable | undefined;
  let buffered = '';
  const opened = api.app.inject({
    method: 'GET', url: `${core}?watch=true&resourceVersion=${rv}&fieldSelector=metadata.name%3D${name}`, headers: asUser('admin', ['system:masters']), payloadAsStream: true,
  }).then((response) => {
    stream = response.stream();
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
        events.push(JSON.parse(buffered.slice(0, i)) as { type: string; object: Body });
        buffered = buffered.slice(i + 1);
      }
      wake?.();
    });
  });
  return {
    next: async () => {
      await opened;
      while (events.length === 0) await new Promise<void>((resolve) => { wake = resolve; });
      return events.shift()!;
    },
    pending: () => events.length,
    close: () => { void opened.then(() => stream?.destroy()); },
  };
}

test('stage keeps the Secret as it is and shows the pending data; a second stage replaces it; promote makes it current', async () => {
  const created = await call(api.app, 'POST', core, secret('tp', { password: 'old', user: 'app' }));
  assert.equal(created.status, 201);
  const rv = created.body.metadata.resourceVersion;
  const watch = watchOne('tp', rv);
  try {
    const staged = await call(api.app, 'POST', `${coffer}/tp/rotate`, { data: { password: b64('new') }, stage: true }, asUser('alice', ['system:masters']));
    assert.equal(staged.status, 200, staged.body.message);
    assert.equal(staged.body.kind, 'SecretVersion');
    assert.equal(staged.body.stage, 'pending');
    assert.equal(staged.body.version, 2);
    assert.deepEqual(staged.body.data, { password: b64('new'), user: b64('app') }, 'the pending data: current data with the staged keys');

    const unchanged = await call(api.app, 'GET', `${core}/tp`);
    assert.equal(unchanged.body.metadata.resourceVersion, rv, 'staging does not write the Secret');
    assert.equal(text(unchanged.body.data?.password), 'old');
    assert.deepEqual(await stages('tp'), [[1, 'current', 'admin'], [2, 'pending', 'alice']]);
    const pending = await call(api.app, 'GET', `${coffer}/tp/versions?stage=pending`);
    assert.equal(pending.status, 200);
    assert.equal(text(pending.body.data?.password), 'new');
    assert.equal(text(pending.body.data?.user), 'app');

    const restaged = await call(api.app, 'POST', `${coffer}/tp/rotate`, { generate: [{ key: 'password', length: 24, charset: 'hex' }], stage: true }, asUser('bob', ['system:masters']));
    assert.equal(restaged.status, 200, restaged.body.message);
    const generated = text(restaged.body.data?.password);
    assert.match(generated, /^[0-9a-f]{24}$/);
    assert.deepEqual(await stages('tp'), [[1, 'current', 'admin'], [2, 'pending', 'bob']], 'the second stage replaced the first');
    assert.equal(watch.pending(), 0);

    const promoted = await call(api.app, 'POST', `${coffer}/tp/promote`, undefined, asUser('carol', ['system:masters']));
    assert.equal(promoted.status, 200, promoted.body.message);
    assert.equal(promoted.body.kind, 'Secret');
    assert.equal(text(promoted.body.data?.password), generated);
    assert.equal(text(promoted.body.data?.user), 'app');
    const event = await watch.next();
    assert.equal(event.type, 'MODIFIED', 'the first event after the stages is the promote');
    assert.equal(event.object.metadata.resourceVersion, promoted.body.metadata.resourceVersion);
    assert.equal(text(event.object.data?.password), generated);

    assert.deepEqual(await stages('tp'), [[1, 'previous', 'admin'], [2, 'current', 'carol']]);
    assert.equal(text((await call(api.app, 'GET', `${coffer}/tp/versions?stage=previous`)).body.data?.password), 'old');
    assert.equal(text((await call(api.app, 'GET', `${coffer}/tp/versions?stage=current`)).body.data?.password), generated);
    assert.equal((await call(api.app, 'GET', `${coffer}/tp/versions?stage=pending`)).status, 404);
    assert.equal((await call(api.app, 'GET', `${coffer}/tp/versions?stage=next`)).status, 400);
    assert.equal((await call(api.app, 'GET', `${coffer}/tp/versions?stage=current&version=1`)).status, 400);
  } finally {
    watch.close();
  }
});

test('promote with nothing pending is a 409 Status and changes nothing', async () => {
  const created = await call(api.app, 'POST', core, secret('np', { password: 'x' }));
  const reply = await call(api.app, 'POST', `${coffer}/np/promote`);
  assert.equal(reply.status, 409);
  assert.equal(reply.body.kind, 'Status');
  assert.equal(reply.body.reason, 'Conflict');
  assert.match(reply.body.message, /nothing pending/);
  assert.equal((await call(api.app, 'GET', `${core}/np`)).body.metadata.resourceVersion, created.body.metadata.resourceVersion);
  assert.equal((await call(api.app, 'POST', `${coffer}/missing/promote`)).status, 404);
});

test('a pending stage survives other updates and promote merges it into the data current at promote time', async () => {
  await call(api.app, 'POST', core, secret('merge', { password: 'p1', user: 'u1' }));
  assert.equal((await call(api.app, 'POST', `${coffer}/merge/rotate`, { data: { password: b64('p2') }, stage: true })).status, 200);
  assert.equal((await call(api.app, 'PUT', `${core}/merge`, secret('merge', { password: 'p1', user: 'u2' }))).status, 200);
  assert.deepEqual((await stages('merge')).map(([v, s]) => [v, s]), [[1, 'previous'], [2, 'current'], [3, 'pending']]);
  const promoted = await call(api.app, 'POST', `${coffer}/merge/promote`);
  assert.equal(promoted.status, 200, promoted.body.message);
  assert.deepEqual(promoted.body.data, { password: b64('p2'), user: b64('u2') });
  assert.deepEqual((await stages('merge')).map(([v, s]) => [v, s]), [[1, ''], [2, 'previous'], [3, 'current']]);
});

test('a stage that could never be promoted is refused: bad values, an immutable Secret, a bad "stage"', async () => {
  await call(api.app, 'POST', core, secret('st', { password: 'a' }));
  assert.equal((await call(api.app, 'POST', `${coffer}/st/rotate`, { data: { password: 'not base64!' }, stage: true })).status, 422);
  assert.equal((await call(api.app, 'POST', `${coffer}/st/rotate`, { data: { password: b64('b') }, stage: 'yes' })).status, 400);
  await call(api.app, 'POST', core, secret('frozen', { password: 'a' }, { immutable: true }));
  assert.equal((await call(api.app, 'POST', `${coffer}/frozen/rotate`, { data: { password: b64('b') }, stage: true })).status, 422);
  assert.deepEqual((await stages('st')).map(([v, s]) => [v, s]), [[1, 'current']], 'nothing was staged');
});

test('RBAC: secret-reader may neither stage nor promote; secret-rotator may do both', async () => {
  await call(api.app, 'POST', core, secret('rb2', { password: 'p' }));
  await bindClusterRole(api.app, 'stage-reader', 'secret-reader', 'rhea');
  await bindClusterRole(api.app, 'stage-rotator', 'secret-rotator', 'rex');
  const rhea = asUser('rhea');
  const rex = asUser('rex');
  assert.equal((await call(api.app, 'POST', `${coffer}/rb2/rotate`, { generate: [{ key: 'password' }], stage: true }, rhea)).status, 403);
  assert.equal((await call(api.app, 'GET', `${coffer}/rb2/versions?stage=pending`, undefined, rhea)).status, 403);
  const staged = await call(api.app, 'POST', `${coffer}/rb2/rotate`, { generate: [{ key: 'password' }], stage: true }, rex);
  assert.equal(staged.status, 200, staged.body.message);
  assert.equal(text(staged.body.data?.password).length, 32, 'the rotator may read what it staged');
  assert.equal((await call(api.app, 'POST', `${coffer}/rb2/promote`, undefined, rhea)).status, 403);
  assert.equal(text((await call(api.app, 'GET', `${core}/rb2`)).body.data?.password), 'p', 'the refused promote changed nothing');
  const promoted = await call(api.app, 'POST', `${coffer}/rb2/promote`, undefined, rex);
  assert.equal(promoted.status, 200, promoted.body.message);
  assert.equal(promoted.body.data?.password, staged.body.data?.password);
});

test('scheduled-rotation annotations are checked on create, update and patch: bad values are a 422', async () => {
  const good = { 'coffer.dev/rotate-every': '1h30m', 'coffer.dev/rotate-generate': 'password:16:hex,pin:6' };
  assert.equal((await call(api.app, 'POST', core, secret('sched', { password: 'a' }, { metadata: { annotations: good } }))).status, 201);
  const bad: Record<string, string>[] = [
    { 'coffer.dev/rotate-every': '30s', 'coffer.dev/rotate-generate': 'password' }, // below the minimum
    { 'coffer.dev/rotate-every': 'monthly', 'coffer.dev/rotate-generate': 'password' },
    { 'coffer.dev/rotate-every': '720h' }, // without a generator
    { 'coffer.dev/rotate-generate': 'password' }, // without a period
    { 'coffer.dev/rotate-every': '720h', 'coffer.dev/rotate-generate': 'password:0' },
    { 'coffer.dev/rotate-every': '720h', 'coffer.dev/rotate-generate': 'password:8:emoji' },
    { 'coffer.dev/rotate-every': '720h', 'coffer.dev/rotate-generate': 'a,a' },
    { 'coffer.dev/rotate-every': '720h', 'coffer.dev/rotate-generate': 'a:1:hex:x' },
    { 'coffer.dev/rotate-every': '100000h', 'coffer.dev/rotate-generate': 'a' }, // above the maximum
  ];
  for (const annotations of bad) {
    const created = await call(api.app, 'POST', core, secret('sched-bad', { password: 'a' }, { metadata: { annotations } }));
    assert.equal(created.status, 422, JSON.stringify(annotations));
    assert.match(created.body.message, /coffer\.dev\/rotate-/);
    assert.equal((await call(api.app, 'PUT', `${core}/sched`, secret('sched', { password: 'a' }, { metadata: { annotations } }))).status, 422, JSON.stringify(annotations));
  }
  const patched = await call(api.app, 'PATCH', `${core}/sched`, { metadata: { annotations: { 'coffer.dev/rotate-every': '1y' } } }, undefined, 'application/merge-patch+json');
  assert.equal(patched.status, 422);
  const immutable = await call(api.app, 'POST', core, secret('sched-frozen', { password: 'a' }, { metadata: { annotations: good }, immutable: true }));
  assert.equal(immutable.status, 422);
  assert.deepEqual((await call(api.app, 'GET', `${core}/sched`)).body.metadata.annotations, good, 'the refused writes changed nothing');
});

test('an update whose data and the pending stage together would not fit is refused with 413 naming the stage, and changes nothing', async () => {
  const bytes = (n: number, fill: string) => Buffer.alloc(n, fill).toString('base64');
  const created = await call(api.app, 'POST', core, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'large' }, data: { a: bytes(500_000, 'a') } });
  assert.equal(created.status, 201, created.body.message);
  const staged = await call(api.app, 'POST', `${coffer}/large/rotate`, { stage: true, data: { b: bytes(500_000, 'b') } });
  assert.equal(staged.status, 200, staged.body.message);
  const before = await call(api.app, 'GET', `${core}/large`);
  // The Secret alone fits (under 1 MiB), but with the 667 KB pending stage its history would not.
  const update = await call(api.app, 'PUT', `${core}/large`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'large' }, data: { a: bytes(700_000, 'c') } });
  assert.equal(update.status, 413);
  assert.equal(update.body.reason, 'RequestEntityTooLarge');
  assert.match(String(update.body.message), /the new data and the pending stage together exceed \d+ bytes/);
  const after = await call(api.app, 'GET', `${core}/large`);
  assert.equal(after.body.metadata?.resourceVersion, before.body.metadata?.resourceVersion);
  assert.deepEqual((await stages('large')).map(([version, stage]) => [version, stage]), [[1, 'current'], [2, 'pending']]);
});
