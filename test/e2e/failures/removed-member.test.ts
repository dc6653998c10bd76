// A removed member says so — in its status, on /readyz, in a metric, in its log and in `coffer status` —
// against real member processes. The members run with --stay-when-removed, so what it says can be
// checked without racing its exit; that a removed member exits once its grace period is over is
// tested in test/unit/server/member-end.test.ts, and the exit path itself by the fail-stop test in
// disk-full.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:tls';
import { encodeFrame, encodePeerFrame } from '../../../src/transport/index.ts';
import { Cluster, delay, runCoffer } from '../../support/cluster/index.ts';
import { waitUntil } from '../../support/wait.ts';

let cluster: Cluster;
/** The member removed by the first test. */
let removed: number;
/** How long a member may take to refuse a connection. */
const refusedWithinMs = 10_000;

before(async () => {
  cluster = await Cluster.start({ size: 3, backend: 'coffer', memberArgs: ['--stay-when-removed'] });
  await cluster.waitPublished();
});

after(async () => {
  await cluster.stop();
});

test('a removed member reports its removal everywhere an operator looks', async () => {
  const leader = await cluster.leader();
  removed = [0, 1, 2].find((i) => i !== leader)!;
  const name = cluster.names[removed]!;
  const out = await runCoffer(cluster, 'member', 'remove', name);
  assert.equal(out.code, 0, out.stderr);

  const client = cluster.client(removed, { requestTimeoutMs: 1_000 });
  let status = await client.status();
  while (!status.errors.includes('this member was removed from the cluster')) {
    await delay(50);
    status = await client.status();
  }
  assert.equal(status.leader, '0', 'no stale leader');

  const readyz = await cluster.get(removed, '/readyz');
  assert.equal(readyz.status, 503);
  assert.match(readyz.body, /^\[-\]leader failed: this member was removed from the cluster$/m);
  assert.match(readyz.body, /^readyz check failed$/m);
  assert.equal((await cluster.get(removed, '/livez')).status, 200, 'kept running for inspection: the process is live');
  assert.match((await cluster.get(removed, '/metrics')).body, /^coffer_member_removed 1$/m);
  const log = await readFile(cluster.members[removed]!.logFile, 'utf8');
  assert.match(log, /this member was removed from the cluster; it keeps running for inspection \(--stay-when-removed\) and serves nothing/);

  const report = await runCoffer(cluster, 'status');
  assert.equal(report.code, 1);
  assert.match(report.stderr, new RegExp(`coffer: problem: ${cluster.clientUrl(removed)}: this member was removed from the cluster`));
  assert.doesNotMatch(report.stderr, /no leader/, 'the two members left have their leader');
  assert.ok(cluster.members[removed]!.running, 'with --stay-when-removed it does not exit');
});

test('a removed member\'s certificate does not come back in under a member id the cluster never gave it', async () => {
  // Its certificate still proves its name (nobody revoked it); the id it claims is one no member has,
  // so no record says it was removed. Once in, a heartbeat at a far higher term would depose the leader.
  // The removed member (still running) knows no leader: the leader is the remaining member that says it leads.
  const remaining = [0, 1, 2].filter((i) => i !== removed);
  const statuses = await Promise.all(remaining.map((i) => cluster.client(i).status()));
  const leaderAt = statuses.findIndex((s) => s.leader === s.header.memberId);
  assert.ok(leaderAt >= 0, 'a remaining member leads');
  const leader = remaining[leaderAt]!;
  const status = statuses[leaderAt]!;
  const name = cluster.names[removed]!;
  const unknownId = 99;
  const socket = connect({
    host: '127.0.0.1', port: cluster.peerPorts[leader]!,
    cert: await readFile(cluster.certs.memberCert(name), 'utf8'), key: await readFile(cluster.certs.memberKey(name), 'utf8'),
    ca: await readFile(cluster.certs.ca, 'utf8'), checkServerIdentity: () => undefined,
  });
  socket.on('error', () => undefined);
  let closed = false;
  socket.once('close', () => { closed = true; });
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  socket.write(encodeFrame(encodePeerFrame({ kind: 'hello', clusterId: status.header.clusterId, member: name, memberId: unknownId })));
  socket.write(encodeFrame(encodePeerFrame({
    kind: 'raft',
    message: {
      type: 'heartbeat', from: unknownId, to: Number(status.header.memberId), term: status.raftTerm + 100,
      logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0,
    },
  })));
  await waitUntil(() => closed, refusedWithinMs, 'the leader refusing the connection');
  const after = await cluster.client(leader).status();
  assert.equal(after.raftTerm, status.raftTerm, 'the leader\'s term moved');
  assert.equal(after.leader, status.leader);
});
