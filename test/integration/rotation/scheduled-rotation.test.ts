// Scheduled rotation on an in-process cluster of three replicas (real WAL, LevelDB and keyrings), each
// member with its own RotationScheduler on its own ManualClock — the clocks a few seconds apart, as real
// members' are. Only the leader rotates; a due Secret is rotated exactly once per period, also when the
// leadership moves (transfer, then the leader stopped); a stale decision (a second leader or a retry
// that read the same period) changes nothing; the audit record comes first and, if it cannot be made,
// nothing is rotated.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withOneEventPerRequest } from '../../../src/api/index.ts';
import { AuditLog, type AuditEventInput, generateAuditKeyPair, loadAuditPolicy, queryAuditLog } from '../../../src/audit/index.ts';
import { ManualClock } from '../../../src/base/index.ts';
import { loadPolicies } from '../../../src/rbac/index.ts';
import { bootstrapRegistry, Registry, secrets } from '../../../src/registry/index.ts';
import { RotationScheduler } from '../../../src/server/rotation-scheduler.ts';
import { backendOf, InProcessCluster, waitLimitMs } from '../replication/harness.ts';
import { waitUntil } from '../../support/wait.ts';

const policiesDir = fileURLToPath(new URL('../../../policies/', import.meta.url));
const hourMs = 3_600_000;
const checkMs = 10 * 60_000;
const startMs = Date.parse('2030-01-01T00:00:00Z');
/** Members' clocks disagree by a few seconds. */
const skewMs: Record<number, number> = { 1: 0, 2: 2_000, 3: -3_000 };

interface Member { clock: ManualClock; scheduler: RotationScheduler; audit: AuditEventInput[]; failAudit: boolean }

let cluster: InProcessCluster;
const members = new Map<number, Member>();

before(async () => {
  cluster = await InProcessCluster.start(3);
  const leader = await cluster.leader();
  await bootstrapRegistry(backendOf(cluster.replica(leader)), (await loadPolicies(policiesDir)).rbac);
  for (const id of [1, 2, 3]) {
    const clock = new ManualClock(startMs + skewMs[id]!);
    const member: Member = { clock, audit: [], failAudit: false, scheduler: undefined as unknown as RotationScheduler };
    member.scheduler = new RotationScheduler({
      backend: backendOf(cluster.replica(id)), clock, intervalMs: checkMs,
      audit: {
        record: (input) => {
          if (member.failAudit) return Promise.reject(new Error('audit log unavailable'));
          member.audit.push(input);
          return Promise.resolve();
        },
      },
    });
    member.scheduler.start();
    members.set(id, member);
  }
});

after(async () => {
  for (const m of members.values()) await m.scheduler.stop();
  await cluster.close();
});

/** Moves every running member's clock by `ms`, one check interval at a time, letting each check finish. */
async function advance(ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= checkMs) {
    const step = Math.min(checkMs, left);
    const running = [...members.entries()].filter(([id]) => cluster.replicas.has(id)).map(([, m]) => m);
    for (const m of running) m.clock.advance(step);
    await Promise.all(running.map((m) => m.scheduler.settled()));
  }
}

function registryOf(id: number, clock?: ManualClock): Registry {
  return new Registry(backendOf(cluster.replica(id)), clock ? { nowMs: () => clock.nowMs() } : {});
}

async function history(name: string) {
  return (await registryOf(await cluster.leader()).secretVersions('default', name)).history.versions;
}

async function createScheduled(name: string, every: string): Promise<void> {
  const leader = await cluster.leader();
  await registryOf(leader, members.get(leader)!.clock).create(secrets, 'default', {
    metadata: { name, annotations: { 'coffer.dev/rotate-every': every, 'coffer.dev/rotate-generate': 'password:24:hex' } },
    data: { password: Buffer.from('initial').toString('base64'), user: Buffer.from('app').toString('base64') },
  }, undefined, { actor: 'admin' });
}

/** Rotations a member made, as its audit records say: completions with code 200 (each follows its RequestReceived). */
const rotationsOf = (id: number, name: string) => members.get(id)!.audit
  .filter((e) => e.objectRef?.name === name && e.stage === 'ResponseComplete' && e.responseStatus?.code === 200).length;

test('not due: no rotation; due: exactly one, by the leader, under the system identity, audited; again a period later: exactly one more', async () => {
  await createScheduled('db', '1h');
  const before = await history('db');
  assert.equal(before.length, 1);

  await advance(50 * 60_000);
  assert.equal((await history('db')).length, 1, 'not due after 50 minutes');

  await advance(20 * 60_000);
  const once = await history('db');
  assert.deepEqual(once.map((v) => [v.version, v.createdBy]), [[1, 'admin'], [2, 'system:coffer:rotation']]);
  const password = Buffer.from(once[1]!.data.password!, 'base64').toString();
  assert.match(password, /^[0-9a-f]{24}$/);
  assert.equal(once[1]!.data.user, once[0]!.data.user, 'keys not named by rotate-generate are kept');

  const leader = await cluster.leader();
  assert.equal(rotationsOf(leader, 'db'), 1);
  for (const id of [1, 2, 3].filter((i) => i !== leader)) assert.equal(rotationsOf(id, 'db'), 0, 'followers do not rotate');
  const records = members.get(leader)!.audit.filter((e) => e.objectRef?.name === 'db');
  assert.deepEqual(records.map((e) => [e.stage, e.responseStatus?.code]), [['RequestReceived', undefined], ['ResponseComplete', 200]]);
  assert.equal(records[0]!.auditID, records[1]!.auditID, 'one auditID for the two stages');
  const event = records[0]!;
  assert.equal(event.verb, 'rotate');
  assert.equal(event.user.username, 'system:coffer:rotation');
  assert.equal(event.decision, 'allow');
  assert.equal(event.decisionReason, 'scheduled rotation');
  assert.deepEqual(event.objectRef, { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' });
  assert.ok(!JSON.stringify(event).includes(password), 'the audit record holds no value');

  await advance(30 * 60_000);
  assert.equal((await history('db')).length, 2, 'the period restarts at the rotation');
  await advance(40 * 60_000);
  assert.equal((await history('db')).length, 3, 'exactly one more a period later');
});

test('across a leader change (transfer, then the leader stopped) each period rotates exactly once', async () => {
  await createScheduled('ha', '2h');
  await advance(2 * hourMs + checkMs);
  assert.equal((await history('ha')).length, 2);

  const first = await cluster.leader();
  const next = first === 1 ? 2 : 1;
  backendOf(cluster.replica(first)).transferLeadership(next);
  await waitUntil(() => cluster.replica(next).status().role === 'leader', waitLimitMs, `member ${next} becomes leader`);
  assert.equal(await cluster.leader(), next);
  const auditedBefore = rotationsOf(first, 'ha');

  await advance(2 * hourMs + checkMs);
  const afterTransfer = await history('ha');
  assert.equal(afterTransfer.length, 3, 'one rotation in the period after the transfer');
  assert.equal(rotationsOf(next, 'ha'), 1, 'made by the new leader');
  assert.equal(rotationsOf(first, 'ha'), auditedBefore, 'the old leader did nothing');

  // Stop the leader right after its rotation: the survivors elect a new one, whose clock differs.
  await members.get(next)!.scheduler.stop();
  await cluster.stopMember(next);
  const third = await cluster.leader();
  assert.notEqual(third, next);
  const thirdBefore = rotationsOf(third, 'ha');
  await advance(checkMs);
  assert.equal((await history('ha')).length, 3, 'the new leader does not rotate the period again');
  await advance(2 * hourMs);
  const versions = await history('ha');
  assert.equal(versions.length, 4, 'exactly one rotation in the next period');
  assert.deepEqual(versions.map((v) => v.version), [1, 2, 3, 4]);
  assert.equal(rotationsOf(third, 'ha'), thirdBefore + 1, 'made by the third leader');
});

test('a stale due decision (a second leader, or a retry, that read the same period) fails its compare and changes nothing', async () => {
  await createScheduled('race', '1h');
  const leader = await cluster.leader();
  const clock = members.get(leader)!.clock;
  const registry = registryOf(leader, clock);
  const due = (await registry.dueSecretRotations(clock.nowMs() + hourMs)).filter((d) => d.name === 'race');
  const again = (await registry.dueSecretRotations(clock.nowMs() + hourMs + 1_000)).filter((d) => d.name === 'race');
  assert.equal(due.length, 1);
  assert.equal(again.length, 1);
  assert.ok(await registry.rotateDue(due[0]!, { actor: 'system:coffer:rotation' }));
  assert.equal(await registry.rotateDue(again[0]!, { actor: 'system:coffer:rotation' }), undefined);
  assert.equal(await registry.rotateDue(due[0]!, { actor: 'system:coffer:rotation' }), undefined);
  assert.equal((await history('race')).length, 2);
});

test('the audit record comes first: while it cannot be made nothing is rotated; once it can, the rotation happens', async () => {
  await createScheduled('closed', '1h');
  const leader = await cluster.leader();
  const member = members.get(leader)!;
  member.failAudit = true;
  try {
    await advance(hourMs + checkMs);
    assert.equal((await history('closed')).length, 1, 'no audit record, no rotation');
  } finally {
    member.failAudit = false;
  }
  await advance(checkMs);
  assert.equal((await history('closed')).length, 2);
  assert.equal(rotationsOf(leader, 'closed'), 1);
});

test('a scheduled rotation lands in a real audit log as verb rotate by system:coffer:rotation, reason "scheduled rotation"', async (t) => {
  await createScheduled('logged', '1h');
  const dir = await mkdtemp(join(tmpdir(), 'coffer-rotation-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const policy = withOneEventPerRequest(await loadAuditPolicy(join(policiesDir, 'audit.yaml')));
  const log = await AuditLog.open({ dir, member: 'm1', keyPair: await generateAuditKeyPair(), hmacKey: new Uint8Array(32).fill(7), policy });
  t.after(() => log.close());
  const leader = await cluster.leader();
  // A scheduler of its own, run by hand at a time the Secret is due (the members' clocks stay put).
  const clock = new ManualClock(members.get(leader)!.clock.nowMs() + hourMs);
  const scheduler = new RotationScheduler({ backend: backendOf(cluster.replica(leader)), clock, audit: log });
  const pass = await scheduler.runOnce();
  assert.ok(pass.rotated.includes('default/logged'), JSON.stringify(pass));
  const { events } = await queryAuditLog(dir, { name: 'logged' });
  assert.equal(events.length, 1, 'one event (its two stages shown as one)');
  const event = events[0]!;
  assert.equal(event.stage, 'ResponseComplete');
  assert.deepEqual(event.responseStatus, { code: 200 });
  assert.equal(event.verb, 'rotate');
  assert.equal(event.user.username, 'system:coffer:rotation');
  assert.deepEqual(event.objectRef, { resource: 'secrets', namespace: 'default', name: 'logged', apiVersion: 'v1' });
  assert.equal(event.annotations['authorization.k8s.io/decision'], 'allow');
  assert.equal(event.annotations['authorization.k8s.io/reason'], 'scheduled rotation');
});

test('a version stamped 91 days ahead (one term of a leader whose clock ran ahead) is rotated one period after the leader first sees it, exactly once', async () => {
  const leader = await cluster.leader();
  // What a leader at +91 days would have written: the version's createdAt is its clock's.
  const ahead = new ManualClock(members.get(leader)!.clock.nowMs() + 91 * 24 * hourMs);
  await registryOf(leader, ahead).create(secrets, 'default', {
    metadata: { name: 'ahead', annotations: { 'coffer.dev/rotate-every': '1h', 'coffer.dev/rotate-generate': 'password:24:hex' } },
    data: { password: Buffer.from('initial').toString('base64') },
  }, undefined, { actor: 'admin' });
  assert.ok(Date.parse((await history('ahead'))[0]!.createdAt) > members.get(leader)!.clock.nowMs() + 90 * 24 * hourMs);
  await advance(checkMs);
  assert.equal((await history('ahead')).length, 1, 'seen, not due: it counts as made now');
  await advance(hourMs);
  const versions = await history('ahead');
  assert.deepEqual(versions.map((v) => [v.version, v.createdBy]), [[1, 'admin'], [2, 'system:coffer:rotation']], 'rotated within one period and a check');
  assert.ok(Date.parse(versions[1]!.createdAt) <= members.get(leader)!.clock.nowMs(), 'the new version carries the correct leader\'s time');
  await advance(checkMs);
  assert.equal((await history('ahead')).length, 2, 'once: the next period counts from the rotation');
});
