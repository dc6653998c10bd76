// The client port's identity over real TLS, request by request: a keep-alive connection opened before
// its certificate was revoked, or before it expired, gets no identity from the next request on. The
// reloader here is NOT attached to the server, so nothing closes the connection: the per-request
// check alone is under test (the reload closing connections is tested in test/integration/pki).
import assert from 'node:assert/strict';
import { connect as connectHttp2 } from 'node:http2';
import { Agent, request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import fastify, { type FastifyInstance } from 'fastify';
import { identifyByCertificate } from '../../../src/api/index.ts';
import { ManualClock } from '../../../src/base/index.ts';
import { runCli } from '../../../src/cli/index.ts';
import { bootstrapCa, type ClientIdentity, issueClient, loadCa, loadTlsMaterial, TlsReloader } from '../../../src/pki/index.ts';
import { clientFiles, memberFiles, tempDir } from '../pki/tls-harness.ts';

const dayMs = 86_400_000;
let dir: string;
let remove: () => Promise<void>;
let clock: ManualClock;
let reloader: TlsReloader;
let app: FastifyInstance;
let port: number;
/** Every identity /whoami was given, in order. */
const identitiesSeen: ClientIdentity[] = [];

before(async () => {
  ({ dir, remove } = await tempDir('identity'));
  await bootstrapCa({ dir, members: ['m1'], hosts: ['127.0.0.1'], admin: 'admin', p12Password: 'test' });
  const signer = await loadCa(dir);
  await issueClient(signer, { user: 'eve', p12Password: 'test' });
  await issueClient(signer, { user: 'brief', days: 1, p12Password: 'test' });
  clock = new ManualClock(Date.now());
  reloader = await TlsReloader.open(memberFiles(dir, 'm1'), { clock });
  const identify = identifyByCertificate(reloader);
  app = fastify({ https: reloader.serverOptions() } as object);
  app.get('/whoami', async (req, reply) => {
    const identity = identify(req);
    if (identity !== undefined) identitiesSeen.push(identity);
    return identity === undefined ? reply.code(401).send({ user: null }) : { user: identity.user };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});

after(async () => {
  await app.close();
  reloader.close();
  await remove();
});

interface Answer { status: number; user: string | null; localPort: number }

/** One keep-alive connection as `user` (maxSockets 1: every request rides the same socket while it is open). */
async function connectionAs(user: string, files = clientFiles(dir, user)): Promise<{ whoami(): Promise<Answer>; close(): void }> {
  const material = await loadTlsMaterial({ cert: files.cert, key: files.key, ca: files.ca });
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: material.ca, cert: material.cert, key: material.key });
  return {
    whoami: () => new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/whoami', agent }, (res) => {
        const localPort = res.socket.localPort ?? 0;
        let text = '';
        res.on('data', (chunk: Buffer) => { text += chunk.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, user: (JSON.parse(text) as { user: string | null }).user, localPort }));
      });
      req.on('error', reject);
      req.end();
    }),
    close: () => agent.destroy(),
  };
}

const quietIo = { out: () => undefined, err: () => undefined, env: {} };

test('a keep-alive connection whose certificate is revoked gets 401 from the next request on, on the same socket', async () => {
  const eve = await connectionAs('eve');
  const admin = await connectionAs('admin');
  const before = await eve.whoami();
  assert.deepEqual([before.status, before.user], [200, 'eve']);
  assert.equal((await admin.whoami()).status, 200);

  const serial = (await loadTlsMaterial(clientFiles(dir, 'eve'))).serial;
  assert.equal(await runCli(['ca', 'revoke', serial, '--dir', dir], quietIo), 0);
  await reloader.reload();

  const afterRevoke = await eve.whoami();
  assert.deepEqual([afterRevoke.status, afterRevoke.user], [401, null]);
  assert.equal(afterRevoke.localPort, before.localPort, 'the same connection: only the per-request check refused it');
  const adminAfter = await admin.whoami();
  assert.deepEqual([adminAfter.status, adminAfter.user], [200, 'admin'], 'a certificate the CRL does not name keeps working');
  eve.close();
  admin.close();
});

test('connections presenting one certificate share its identity, which no request can change for another', async () => {
  const first = await connectionAs('admin');
  const second = await connectionAs('admin');
  identitiesSeen.length = 0;
  const [a, b] = [await first.whoami(), await second.whoami()];
  first.close();
  second.close();
  assert.notEqual(a.localPort, b.localPort, 'two connections');
  assert.deepEqual([a.user, b.user], ['admin', 'admin']);
  const [identity, again] = identitiesSeen;
  assert.ok(identity !== undefined && identity === again, 'the identity worked out once, for the first connection');
  assert.throws(() => identity.groups.push('system:masters'), TypeError);
  assert.throws(() => { (identity as { user: string }).user = 'eve'; }, TypeError);
  assert.deepEqual(identity, { user: 'admin', groups: ['system:masters'], kind: 'client' });

  // A member certificate's identity is kept and shared the same way.
  const members = [await connectionAs('m1', memberFiles(dir, 'm1')), await connectionAs('m1', memberFiles(dir, 'm1'))];
  identitiesSeen.length = 0;
  const answers = [await members[0]!.whoami(), await members[1]!.whoami()];
  for (const member of members) member.close();
  assert.deepEqual(answers.map((a) => [a.status, a.user]), [[200, 'system:member:m1'], [200, 'system:member:m1']]);
  assert.ok(identitiesSeen[0] === identitiesSeen[1] && Object.isFrozen(identitiesSeen[0]) && Object.isFrozen(identitiesSeen[0]?.groups));
});

test('an identity kept for a certificate grants nothing once it is revoked: every connection with it gets 401, a new one too', async () => {
  const signer = await loadCa(dir);
  await issueClient(signer, { user: 'mallory', p12Password: 'test' });
  const open = [await connectionAs('mallory'), await connectionAs('mallory')];
  assert.deepEqual((await Promise.all(open.map((c) => c.whoami()))).map((a) => [a.status, a.user]), [[200, 'mallory'], [200, 'mallory']]);
  const serial = (await loadTlsMaterial(clientFiles(dir, 'mallory'))).serial;
  assert.equal(await runCli(['ca', 'revoke', serial, '--dir', dir], quietIo), 0);
  await reloader.reload();
  // The server's own TLS context is not reloaded here (see the top), so a new connection still completes
  // its handshake: only the per-request check stands between the kept identity and the request.
  const fresh = await connectionAs('mallory');
  const after = await Promise.all([...open, fresh].map((c) => c.whoami()));
  for (const c of [...open, fresh]) c.close();
  assert.deepEqual(after.map((a) => [a.status, a.user]), [[401, null], [401, null], [401, null]]);
  const admin = await connectionAs('admin');
  assert.equal((await admin.whoami()).status, 200, 'a certificate the CRL does not name keeps working');
  admin.close();
});

test('a keep-alive connection whose certificate expires while open gets 401 from the next request on', async () => {
  const brief = await connectionAs('brief');
  const admin = await connectionAs('admin');
  const before = await brief.whoami();
  assert.deepEqual([before.status, before.user], [200, 'brief']);

  clock.advance(2 * dayMs);
  const afterExpiry = await brief.whoami();
  assert.deepEqual([afterExpiry.status, afterExpiry.user], [401, null]);
  assert.equal(afterExpiry.localPort, before.localPort);
  assert.equal((await admin.whoami()).status, 200, 'a certificate still within its validity keeps working');
  brief.close();
  admin.close();
});

test('the CRL the check reads is the one loaded last: a serial revoked on disk counts only after the reload', async () => {
  const signer = await loadCa(dir);
  await issueClient(signer, { user: 'late', p12Password: 'test' });
  const late = await connectionAs('late');
  assert.equal((await late.whoami()).status, 200);
  const serial = (await loadTlsMaterial(clientFiles(dir, 'late'))).serial;
  assert.equal(await runCli(['ca', 'revoke', serial, '--dir', dir], quietIo), 0);
  assert.equal(reloader.material.revokedSerials.has(serial), false);
  assert.equal((await late.whoami()).status, 200, 'before the reload the member does not know of the revocation');
  await reloader.reload();
  assert.equal(reloader.material.revokedSerials.has(serial), true);
  assert.equal((await late.whoami()).status, 401);
  late.close();
});

test('an HTTP/2 connection\'s certificate is read once, not on every stream (each stream brings its own socket proxy)', async (t) => {
  const h2 = fastify({ http2: true, https: reloader.serverOptions() } as object) as unknown as FastifyInstance;
  const identify = identifyByCertificate(reloader);
  h2.get('/whoami', (req, reply) => reply.send({ user: identify(req)?.user ?? null }));
  let reads = 0;
  h2.server.on('secureConnection', (socket: TLSSocket) => {
    const read = socket.getPeerCertificate.bind(socket);
    socket.getPeerCertificate = ((detailed: true) => {
      reads += 1;
      return read(detailed);
    }) as TLSSocket['getPeerCertificate'];
  });
  await h2.listen({ host: '127.0.0.1', port: 0 });
  const files = clientFiles(dir, 'admin');
  const material = await loadTlsMaterial({ cert: files.cert, key: files.key, ca: files.ca });
  const session = connectHttp2(`https://127.0.0.1:${(h2.server.address() as { port: number }).port}`, { ca: material.ca, cert: material.cert, key: material.key });
  // The session first: the server's close waits for every open session.
  t.after(async () => {
    session.close();
    await h2.close();
  });
  const whoami = () => new Promise<string>((resolve, reject) => {
    const stream = session.request({ ':path': '/whoami' });
    let text = '';
    stream.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    stream.on('end', () => resolve((JSON.parse(text) as { user: string }).user));
    stream.on('error', reject);
    stream.end();
  });
  for (let i = 0; i < 4; i++) assert.equal(await whoami(), 'admin');
  assert.equal(reads, 1, 'one certificate parse for the connection');
});
