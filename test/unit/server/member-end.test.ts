// A member that cannot go on says why once, and its process exits after the grace period: 70 after a
// fail-stop, 0 after a removal; with --stay-when-removed a removed member does not ask to exit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemberEnd } from '../../../src/server/member-end.ts';

function ending(stayWhenRemoved = false) {
  const said: string[] = [];
  const end = new MemberEnd({
    member: 'm3', exitGraceMs: 5, stayWhenRemoved,
    log: { warn: (_fields, message) => said.push(`warn ${message}`), fatal: (_fields, message) => said.push(`fatal ${message}`) },
  });
  return { end, said };
}

test('a fail-stop is said once, shown with its reason, and exits 70 after the grace period', async () => {
  const { end, said } = ending();
  assert.equal(end.failStop(), undefined);
  end.replicaStopped(new Error('ENOSPC: no space left on device, write'));
  end.replicaStopped(new Error('a second error'));
  assert.equal(said.length, 1);
  assert.match(said[0]!, /^fatal the member stopped \(fail-stop\): its WAL or store could not be written or trusted; the process exits in 0 s with code 70/);
  assert.equal(end.failStop(), 'the member stopped (fail-stop): ENOSPC: no space left on device, write; the process exits in 0 s');
  assert.equal(end.failStopped, true);
  assert.equal(await end.exit, 70);
});

test('a removal is said once and exits 0 after the grace period', async () => {
  const { end, said } = ending();
  end.removedFromCluster();
  end.removedFromCluster();
  assert.equal(said.length, 1);
  assert.match(said[0]!, /^warn this member was removed from the cluster; the process exits in 0 s \(--stay-when-removed keeps it running for inspection\)$/);
  assert.equal(end.removal(), 'this member was removed from the cluster; the process exits in 0 s');
  assert.equal(await end.exit, 0);
});

test('with --stay-when-removed a removed member says so and shows nothing on /livez', () => {
  const { end, said } = ending(true);
  end.removedFromCluster();
  assert.deepEqual(said, ['warn this member was removed from the cluster; it keeps running for inspection (--stay-when-removed) and serves nothing']);
  assert.equal(end.removed, true);
  assert.equal(end.removal(), undefined);
  end.close();
});
