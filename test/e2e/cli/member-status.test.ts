// `coffer member …` and `coffer status` as users run them, against a real 3-member cluster.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, runCoffer } from '../../support/cluster/index.ts';

let cluster: Cluster;
const coffer = (...args: string[]) => runCoffer(cluster, ...args);

before(async () => {
  cluster = await Cluster.start({ size: 3, backend: 'coffer' });
  await cluster.waitReady();
  await cluster.waitPublished();
});

after(async () => {
  await cluster.stop();
});

test('member list names the three members and the leader', async () => {
  const { stdout, code } = await coffer('member', 'list');
  assert.equal(code, 0);
  for (const name of ['m1', 'm2', 'm3']) assert.match(stdout, new RegExp(`\\b${name}\\b`));
  assert.match(stdout, /voter \(leader\)/);
});

test('status -o json reports every member at one term with a common leader', async () => {
  const { stdout, code } = await coffer('-o', 'json', 'status');
  assert.equal(code, 0, stdout);
  const rows = JSON.parse(stdout) as Array<{ name?: string; leader?: string; term?: number; error?: string; kekSource?: string; activeDek?: number; certificateNotAfter?: string }>;
  assert.equal(rows.length, 3);
  assert.deepEqual(rows.map((r) => r.error), [undefined, undefined, undefined]);
  for (const r of rows) {
    assert.equal(r.kekSource, 'keyFile');
    assert.equal(r.activeDek, 1);
    assert.ok(Date.parse(r.certificateNotAfter ?? '') > Date.now(), 'the member certificate expiry is reported');
  }
  assert.equal(new Set(rows.map((r) => r.leader)).size, 1, 'one leader seen by all');
});

test('member add prints how to start the new member; remove takes it out and its name is then unknown', async () => {
  const added = await coffer('member', 'add', 'm9', '--peer-url', 'https://127.0.0.1:1', '--learner');
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /added member m9 with id (\d+) as a learner; start it with:\n {2}coffer server --name m9 --join --member-id \1 --cluster-id \w+/);
  const removed = await coffer('member', 'remove', 'm9');
  assert.equal(removed.code, 0, removed.stderr);
  const again = await coffer('member', 'remove', 'm9');
  assert.notEqual(again.code, 0);
  assert.equal(again.stderr.trim().split('\n').length, 1, 'one line on stderr');
  assert.match(again.stderr, /no member named "m9"/);
});
