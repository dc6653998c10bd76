// etcdctl 3.4's member commands against three real `coffer server` processes: `member add --learner`
// (etcd's request carries no name), a fourth member started with a certificate from `coffer ca issue
// --member m4` and the values etcdctl printed mapped to --join --member-id --cluster-id, listed unstarted
// and then named once its certificate bound its id; `member promote`; `member update` moving its peer
// URL (the member restarts there and keeps replicating); `member remove`. And who may bind an unnamed
// slot: a client certificate cannot, a second member certificate cannot take a bound slot, a member
// certificate of a name already in the cluster cannot bind another. Every call is in the audit log.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { connect } from 'node:tls';
import { caLayout } from '../../../src/pki/index.ts';
import { encodeFrame, encodePeerFrame } from '../../../src/transport/index.ts';
import { type Cluster, runCoffer, withCluster } from '../../support/cluster/index.ts';
import { freePorts } from '../../support/cluster/ports.ts';
import { waitUntil } from '../../support/wait.ts';

const etcdctlPath = ['/usr/bin/etcdctl', '/usr/local/bin/etcdctl'].find((p) => existsSync(p));
let cluster: Cluster;

interface Run { code: number; stdout: string; stderr: string }

/** etcdctl as the admin, with the three first members as endpoints (or member `only`). */
function etcdctl(args: string[], only?: number): Promise<Run> {
  const endpoints = only !== undefined ? cluster.clientUrl(only) : [0, 1, 2].map((i) => cluster.clientUrl(i)).join(',');
  return new Promise((resolve) => {
    execFile(etcdctlPath!, [`--endpoints=${endpoints}`, `--cacert=${cluster.certs.ca}`, `--cert=${cluster.certs.clientCert}`, `--key=${cluster.certs.clientKey}`, ...args],
      { timeout: 30_000, env: { ...process.env, ETCDCTL_API: '3' } }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
  });
}

async function ok(args: string[], only?: number): Promise<string> {
  const run = await etcdctl(args, only);
  assert.equal(run.code, 0, `etcdctl ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

/** `member list` rows as etcdctl prints them: id (hex), started|unstarted, name, peer URLs, client URLs, learner. */
async function memberRows(): Promise<string[][]> {
  return (await ok(['member', 'list'])).trim().split('\n').map((line) => line.split(', '));
}

async function rowOf(idHex: string): Promise<string[] | undefined> {
  return (await memberRows()).find((row) => row[0] === idHex);
}

/** What `etcdctl member add` printed: the new member's id and the cluster's (hex), and its ETCD_INITIAL_CLUSTER. */
interface Added { idHex: string; clusterHex: string; initialCluster: string }

function parseAdded(stdout: string): Added {
  const head = /Member\s+([0-9a-f]+) added to cluster\s+([0-9a-f]+)/.exec(stdout);
  const initialCluster = /^ETCD_INITIAL_CLUSTER="(.*)"$/m.exec(stdout)?.[1];
  assert.ok(head && initialCluster !== undefined, `etcdctl printed the new member: ${stdout}`);
  return { idHex: head[1]!, clusterHex: head[2]!, initialCluster };
}

/**
 * `member add --learner`, asked again while a founding member has not yet recorded its peer URL (etcd's
 * "not enough started members"): what etcdctl prints becomes the joiner's --initial-cluster, and must
 * name every member.
 */
async function memberAdd(name: string, peerPort: number): Promise<Added> {
  const args = ['member', 'add', name, `--peer-urls=https://127.0.0.1:${peerPort}`, '--learner'];
  const run = await waitUntil(async () => {
    const attempt = await etcdctl(args);
    return /not enough started members/.test(attempt.stderr) ? undefined : attempt;
  }, 30_000, 'every member to have started');
  assert.equal(run.code, 0, `etcdctl ${args.join(' ')}: ${run.stderr}`);
  const added = parseAdded(run.stdout);
  for (const founder of ['m1', 'm2', 'm3']) assert.match(added.initialCluster, new RegExp(`(^|,)${founder}=https://`), `the initial cluster names ${founder}`);
  return added;
}

/**
 * Dials member `target`'s peer port with a certificate, says the hello of member `claimedName` with id
 * `memberId` in cluster `clusterId`, and resolves once the member has closed the connection (it refuses it).
 */
async function claimSlot(target: number, cert: { cert: string; key: string }, hello: { clusterId: string; member: string; memberId: number }): Promise<void> {
  const socket = connect({
    host: '127.0.0.1', port: cluster.peerPorts[target]!, ca: await readFile(cluster.certs.ca),
    cert: await readFile(cert.cert), key: await readFile(cert.key), checkServerIdentity: () => undefined,
  });
  socket.on('error', () => undefined);
  const closed = once(socket, 'close');
  await Promise.race([once(socket, 'secureConnect'), closed]);
  if (!socket.destroyed) socket.write(encodeFrame(encodePeerFrame({ kind: 'hello', ...hello })));
  await closed;
}

async function issue(...args: string[]): Promise<void> {
  const issued = await runCoffer(cluster, 'ca', 'issue', '--dir', cluster.certs.dir, ...args);
  assert.equal(issued.code, 0, issued.stderr);
}

async function logged(member: number, text: string): Promise<boolean> {
  return (await readFile(cluster.members[member]!.logFile, 'utf8')).includes(text);
}

before(() => {
  assert.ok(etcdctlPath, 'etcdctl is installed (Debian: apt-get install etcd-client)');
});

test('etcdctl member add, a member joining with its certificate, promote, update, remove — and who may bind a slot', () => withCluster({ size: 3, faults: false }, async (started) => {
  cluster = started;
  const [clientPort, peerPort, movedPeerPort] = (await freePorts(3)) as [number, number, number];
  const added = await memberAdd('m4', peerPort);
  const id = Number.parseInt(added.idHex, 16);
  const clusterId = added.clusterHex.padStart(16, '0');
  assert.deepEqual(await rowOf(added.idHex), [added.idHex, 'unstarted', '', `https://127.0.0.1:${peerPort}`, '', 'true']);
  assert.match(added.initialCluster, new RegExp(`(^|,)m4=https://127\\.0\\.0\\.1:${peerPort}(,|$)`));

  // A client certificate is closed at the handshake, before its hello is read: it binds nothing.
  await issue('--user', 'm7');
  const layout = caLayout(cluster.certs.dir);
  await claimSlot(0, { cert: layout.clientCert('m7'), key: layout.clientKey('m7') }, { clusterId, member: 'm7', memberId: id });
  await waitUntil(() => logged(0, '(CN=m7) is not a member certificate'), 10_000, 'm1 to log the refused client certificate');
  assert.equal((await rowOf(added.idHex))?.[1], 'unstarted', 'the client certificate bound nothing');

  // The fourth member: a certificate from the CA, and what etcdctl printed mapped to Coffer's flags.
  await issue('--member', 'm4', '--host', '127.0.0.1');
  const m4 = await cluster.startJoining({
    name: 'm4', clientPort, peerPort, initialCluster: added.initialCluster,
    memberId: String(id), clusterId,
  });
  await waitUntil(async () => (await rowOf(added.idHex))?.[2] === 'm4', 60_000, 'member list to name m4');
  assert.deepEqual((await rowOf(added.idHex))?.slice(1, 4), ['started', 'm4', `https://127.0.0.1:${peerPort}`]);

  // A second member certificate cannot take the bound slot.
  await issue('--member', 'm5', '--host', '127.0.0.1');
  await claimSlot(1, { cert: cluster.certs.memberCert('m5'), key: cluster.certs.memberKey('m5') }, { clusterId, member: 'm5', memberId: id });
  await waitUntil(() => logged(1, `member id ${id} is not member m5 in this cluster`), 10_000, 'm2 to log the refused claim');
  assert.equal((await rowOf(added.idHex))?.[2], 'm4', 'still m4');

  // The learner catches up, then is promoted; it replicates.
  await waitUntil(async () => (await etcdctl(['member', 'promote', added.idHex])).code === 0, 60_000, 'the learner to be promoted');
  assert.equal((await rowOf(added.idHex))?.[5], 'false');
  await ok(['put', 'members/one', '1']);
  await waitUntil(async () => (await etcdctl(['get', 'members/one', '--consistency=s', '--print-value-only'], m4)).stdout.trim() === '1', 60_000, 'm4 to hold the write');

  // Update: refused for an unknown member and for another member's URL; then the member moves.
  const unknown = await etcdctl(['member', 'update', 'ffff', `--peer-urls=https://127.0.0.1:${movedPeerPort}`]);
  assert.match(unknown.stderr, /code = NotFound desc = etcdserver: member not found/);
  const taken = await etcdctl(['member', 'update', added.idHex, `--peer-urls=https://127.0.0.1:${cluster.peerPorts[0]}`]);
  assert.match(taken.stderr, /code = FailedPrecondition desc = etcdserver: Peer URLs already exists/);
  assert.match(await ok(['member', 'update', added.idHex, `--peer-urls=https://127.0.0.1:${movedPeerPort}`]), /updated in cluster/);
  assert.equal((await rowOf(added.idHex))?.[3], `https://127.0.0.1:${movedPeerPort}`);
  await cluster.restartOnPeerPort(m4, movedPeerPort);
  // Nothing listens on the old port any more: m4 hears the leader only if the others re-dialed the new URL.
  await ok(['put', 'members/two', '2']);
  await waitUntil(async () => (await etcdctl(['get', 'members/two', '--consistency=s', '--print-value-only'], m4)).stdout.trim() === '2', 60_000, 'm4 to hold the write after its move');

  // A member certificate whose name is in the cluster cannot bind another slot.
  const [sparePort] = (await freePorts(1)) as [number];
  const spare = await memberAdd('m6', sparePort);
  await claimSlot(1, { cert: cluster.certs.memberCert('m2'), key: cluster.certs.memberKey('m2') }, { clusterId, member: 'm2', memberId: Number.parseInt(spare.idHex, 16) });
  await waitUntil(() => logged(1, 'another member is named \\"m2\\"'), 30_000, 'm2 to log the refused binding');
  assert.equal((await rowOf(spare.idHex))?.[1], 'unstarted');

  assert.match(await ok(['member', 'remove', spare.idHex]), /removed from cluster/);
  assert.match(await ok(['member', 'remove', added.idHex]), /removed from cluster/);
  assert.deepEqual((await memberRows()).map((row) => row[2]).sort(), ['m1', 'm2', 'm3']);

  const events = await runCoffer(cluster, '-o', 'json', 'audit', 'query', '--user', 'admin', '--limit', '1000');
  assert.equal(events.code, 0, events.stderr);
  const calls = (JSON.parse(events.stdout) as { items: { requestURI: string; responseStatus?: { code: number } }[] }).items
    .filter((e) => e.requestURI.startsWith('/etcdserverpb.Cluster/Member') && e.requestURI !== '/etcdserverpb.Cluster/MemberList')
    .map((e) => `${e.requestURI.slice('/etcdserverpb.Cluster/'.length)} ${e.responseStatus?.code ?? '-'}`);
  for (const call of ['MemberAdd 200', 'MemberPromote 200', 'MemberUpdate 404', 'MemberUpdate 400', 'MemberUpdate 200', 'MemberRemove 200']) {
    assert.ok(calls.includes(call), `${call} is in the audit log: ${calls.join(', ')}`);
  }
}));
