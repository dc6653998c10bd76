// `coffer ca revoke` against a running 3-member cluster of real processes: once the members reload the
// CRL (their file watch), a revoked client loses its open keep-alive connection and its open watch
// stream — its HTTP/2 (gRPC) connections with a Watch or a LeaseKeepAlive stream too — and cannot open a new
// connection, while other clients' open connections keep working; a
// revoked member certificate loses its peer links, so that member is cut off from the cluster.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { ClientHttp2Session } from 'node:http2';
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { int64 } from '../../../src/etcdpb/index.ts';
import { loadTlsMaterial } from '../../../src/pki/index.ts';
import { cofferEntry } from '../../support/cluster/backends.ts';
import { Cluster, delay, repoRoot, waitBootstrapped } from '../../support/cluster/index.ts';
import { grpcCall, grpcExchange, grpcSession } from '../../support/grpc-stream.ts';
import { waitUntil } from '../../support/wait.ts';

const run = promisify(execFile);
let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ size: 3, backend: 'coffer' });
  await waitBootstrapped(cluster);
  await coffer('ca', 'issue', '--user', 'eve', '--group', 'system:masters');
});

after(async () => {
  await cluster.stop();
});

/** `coffer …` in a child process against the cluster's CA dir. */
async function coffer(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', cofferEntry, ...args, '--dir', cluster.certs.dir], { cwd: repoRoot });
  return stdout;
}

const clientFiles = (user: string) => ({ cert: `${cluster.certs.dir}/clients/${user}.crt`, key: `${cluster.certs.dir}/clients/${user}.key` });

/** A keep-alive agent for `user` on member 0 (maxSockets 1: requests ride one connection while it is open). */
async function agentFor(user: string): Promise<Agent> {
  const files = clientFiles(user);
  const [cert, key, ca] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8'), readFile(cluster.certs.ca, 'utf8')]);
  return new Agent({ keepAlive: true, maxSockets: 1, cert, key, ca });
}

/** Starts a request; resolves with the response as soon as its headers arrive (the body may go on). */
function open(agent: Agent, method: string, path: string, body?: unknown): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${cluster.clientUrl(0)}${path}`, { method, agent, headers: { 'content-type': 'application/json' } }, resolve);
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function call(agent: Agent, method: string, path: string, body?: unknown): Promise<{ status: number; socket: Socket }> {
  const response = await open(agent, method, path, body);
  const socket = response.socket;
  response.resume();
  await once(response, 'end');
  return { status: response.statusCode ?? 0, socket };
}

/** Resolves with the first line of a streaming response that contains `needle`. */
function lineWith(response: IncomingMessage, needle: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => l.includes(needle));
      if (line === undefined) return;
      response.off('data', onData);
      resolve(line);
    };
    response.on('data', onData);
    response.once('close', () => reject(new Error(`stream closed before a line with ${needle}`)));
  });
}

/**
 * An HTTP/2 connection as `user` (what a gRPC client opens) with one long-lived stream open on it: a
 * Watch, or a LeaseKeepAlive (neither is cancelled for idleness, so only the revocation can end it).
 */
async function grpcStreamAs(user: string, stream: 'Watch' | 'LeaseKeepAlive'): Promise<ClientHttp2Session> {
  const files = clientFiles(user);
  const [cert, key, ca] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8'), readFile(cluster.certs.ca, 'utf8')]);
  const session = grpcSession(cluster.clientUrl(0), { cert, key, ca });
  if (stream === 'Watch') {
    const created = await grpcExchange(grpcCall(session, 'Watch/Watch'), 'WatchRequest', { create_request: { key: Buffer.from('eve/'), range_end: Buffer.from('eve0') } }, 'WatchResponse');
    assert.equal(created.created, true);
  } else {
    // A lease that does not exist is answered TTL 0, and the stream stays open for the next renewal.
    const renewed = await grpcExchange(grpcCall(session, 'Lease/LeaseKeepAlive'), 'LeaseKeepAliveRequest', { ID: 424242 }, 'LeaseKeepAliveResponse');
    assert.equal(int64(renewed, 'TTL'), 0);
  }
  return session;
}

const closed = (socket: Socket) => (socket.destroyed ? Promise.resolve() : once(socket, 'close').then(() => undefined));

test('a revoked client loses its open keep-alive connection, its watch stream and its gRPC Watch and LeaseKeepAlive streams, and cannot connect again; other clients keep theirs', { timeout: 60_000 }, async () => {
  const eve = await agentFor('eve');
  const eveWatching = await agentFor('eve');
  const admin = await agentFor('admin');
  const adminWatching = await agentFor('admin');
  const list = '/api/v1/namespaces/default/configmaps';

  const keepAlive = await call(eve, 'GET', list);
  assert.equal(keepAlive.status, 200);
  const again = await call(eve, 'GET', list);
  assert.equal(again.socket.localPort, keepAlive.socket.localPort, 'the second request rode the same connection');
  // admin's open connection: a watch stream, which no idle timeout closes however long the reload takes.
  const adminWatchOpening = open(adminWatching, 'GET', `${list}?watch=true`);

  // The stream's headers come with its first event: open it, then make the event.
  const watching = open(eveWatching, 'GET', `${list}?watch=true`);
  assert.equal((await call(admin, 'POST', list, { metadata: { name: 'seen-by-eve' }, data: { k: 'v' } })).status, 201);
  const [watch, adminWatch] = await Promise.all([watching, adminWatchOpening]);
  assert.equal(watch.statusCode, 200);
  assert.equal(adminWatch.statusCode, 200);
  assert.match(await lineWith(watch, '"ADDED"'), /seen-by-eve/);
  assert.match(await lineWith(adminWatch, '"ADDED"'), /seen-by-eve/);

  const grpcWatch = await grpcStreamAs('eve', 'Watch');
  const grpcKeepAlive = await grpcStreamAs('eve', 'LeaseKeepAlive');
  const grpcClosed = Promise.all([once(grpcWatch, 'close'), once(grpcKeepAlive, 'close')]);

  const serial = (await loadTlsMaterial({ ...clientFiles('eve'), ca: cluster.certs.ca })).serial;
  await coffer('ca', 'revoke', serial);
  // The members' file watch reloads the CRL; each open connection of eve's is closed by it.
  await closed(keepAlive.socket);
  await closed(watch.socket);
  await grpcClosed;

  await assert.rejects(call(await agentFor('eve'), 'GET', list), 'a new connection with the revoked certificate is refused at the handshake');
  // admin's stream, opened before the revocation, is still open and still delivers.
  const seenByAdmin = lineWith(adminWatch, 'after-revocation');
  assert.equal((await call(admin, 'POST', list, { metadata: { name: 'after-revocation' }, data: { k: 'v' } })).status, 201);
  assert.match(await seenByAdmin, /"ADDED"/);
  assert.equal(adminWatch.socket.destroyed, false);
  const log = await readFile(cluster.members[0]!.logFile, 'utf8');
  assert.match(log, /closed connections whose certificate is revoked or expired/);
  adminWatch.destroy();
  for (const agent of [eve, eveWatching, admin, adminWatching]) agent.destroy();
});

test("a revoked member certificate's peer links are closed: that member loses the cluster, the others go on", { timeout: 60_000 }, async () => {
  const m3 = 2;
  const serial = (await loadTlsMaterial({ cert: cluster.certs.memberCert('m3'), key: cluster.certs.memberKey('m3'), ca: cluster.certs.ca })).serial;
  await coffer('ca', 'revoke', serial);
  const status = cluster.client(m3, { requestTimeoutMs: 1_000, connectTimeoutMs: 1_000 });
  // Open links would keep m3 hearing the leader (or, as leader, its followers): it sees no leader only
  // once every link to and from it is closed and cannot be redialed.
  while ((await status.status()).leader !== '0') await delay(50);
  // The others elect a leader among themselves. A put sent before they do could be forwarded to m3 and
  // lost with its link — it would time out, as etcd's would; so the write waits for the new leader.
  const [first, second] = [cluster.client(0), cluster.client(1)];
  const leader = await waitUntil(async () => {
    const [a, b] = [(await first.status()).leader, (await second.status()).leader];
    return a === b && a !== '0' && a !== cluster.memberIds[m3] ? a : undefined;
  }, 20_000, 'members m1 and m2 agree on a leader other than m3');
  assert.notEqual(leader, cluster.memberIds[m3], 'the leader is one of the members whose certificates stand');
  await cluster.client([0, 1]).put('after-m3-revoked', 'committed');
  assert.equal(Buffer.from((await cluster.client(1).get('after-m3-revoked'))?.value ?? []).toString(), 'committed');
});
