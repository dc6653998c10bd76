// Mutual TLS over real sockets on 127.0.0.1: who is let in on the client and the peer listener.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runCli } from '../../../src/cli/index.ts';
import {
  bootstrapCa, clientTlsOptions, initCa, issueClient, issueMember, loadCa, loadTlsMaterial, TlsReloader,
} from '../../../src/pki/index.ts';
import { attempt, type Attempt, clientFiles, memberFiles, rawClientOptions, startServer, tempDir, type TestServer } from './tls-harness.ts';

const dayMs = 86_400_000;
let dir: string;
let otherDir: string;
let removeDirs: () => Promise<void>;
let clientPort: TestServer;
let peerPort: TestServer;
let reloader: TlsReloader;

function accepted(result: Attempt): asserts result is Extract<Attempt, { accepted: true }> {
  assert.equal(result.accepted, true, result.accepted ? '' : `refused: ${result.error}`);
}

/** Asserts the connection was refused and returns the client-side error for checking the reason. */
function refused(result: Attempt): string {
  if (result.accepted) {
    result.socket.destroy();
    assert.fail(`accepted with greeting ${JSON.stringify(result.greeting)}`);
  }
  return result.error;
}

before(async () => {
  const a = await tempDir('handshake');
  const b = await tempDir('other-ca');
  dir = a.dir;
  otherDir = b.dir;
  removeDirs = async () => { await a.remove(); await b.remove(); };
  await bootstrapCa({ dir, members: ['m1', 'm2', 'm3'], hosts: ['127.0.0.1', 'localhost'], p12Password: 'test' });
  const signer = await loadCa(dir);
  await issueClient(signer, { user: 'alice', groups: ['dev', 'ops'], p12Password: 'test' });
  await issueClient(signer, { user: 'carol', p12Password: 'test' });
  // Valid from 10 days ago for one day: expired now.
  await issueClient(signer, { user: 'old', nowMs: Date.now() - 10 * dayMs, days: 1, p12Password: 'test' });
  const other = await initCa({ dir: otherDir });
  await issueClient(other.signer, { user: 'admin', groups: ['system:masters'], p12Password: 'test' });
  await issueMember(other.signer, { name: 'm2', hosts: ['127.0.0.1'] });

  reloader = await TlsReloader.open(memberFiles(dir, 'm1'));
  clientPort = await startServer(reloader, 'client');
  peerPort = await startServer(reloader, 'peer');
});

after(async () => {
  await clientPort.close();
  await peerPort.close();
  reloader.close();
  await removeDirs();
});

test('client port: a valid client certificate is accepted with its CN as user and O as groups', async () => {
  const result = await attempt(clientPort.port, clientTlsOptions(await loadTlsMaterial(clientFiles(dir, 'alice'))));
  accepted(result);
  assert.deepEqual(result.greeting, { identity: { user: 'alice', groups: ['dev', 'ops'], kind: 'client' } });
  result.socket.destroy();
});

test('client port: the admin from bootstrap is in system:masters', async () => {
  const result = await attempt(clientPort.port, clientTlsOptions(await loadTlsMaterial(clientFiles(dir, 'admin'))));
  accepted(result);
  assert.deepEqual(result.greeting, { identity: { user: 'admin', groups: ['system:masters'], kind: 'client' } });
  result.socket.destroy();
});

test('client port: a member certificate is accepted as system:member:<name>', async () => {
  const result = await attempt(clientPort.port, clientTlsOptions(await loadTlsMaterial(memberFiles(dir, 'm2'))));
  accepted(result);
  assert.deepEqual(result.greeting, { identity: { user: 'system:member:m2', groups: ['system:members'], kind: 'member' } });
  result.socket.destroy();
});

test('client port: no client certificate is refused', async () => {
  const reason = clientPort.nextRefusal();
  assert.match(refused(await attempt(clientPort.port, await rawClientOptions(`${dir}/ca.crt`))), /CERTIFICATE_REQUIRED/);
  assert.match(await reason, /peer did not return a certificate|CERTIFICATE/i);
});

test('client port: a certificate from another CA is refused', async () => {
  const options = await rawClientOptions(`${dir}/ca.crt`, { cert: `${otherDir}/clients/admin.crt`, key: `${otherDir}/clients/admin.key` });
  const reason = clientPort.nextRefusal();
  refused(await attempt(clientPort.port, options));
  assert.equal(await reason, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});

test('client port: an expired certificate is refused', async () => {
  const options = await rawClientOptions(`${dir}/ca.crt`, { cert: `${dir}/clients/old.crt`, key: `${dir}/clients/old.key` });
  const reason = clientPort.nextRefusal();
  refused(await attempt(clientPort.port, options));
  assert.equal(await reason, 'CERT_HAS_EXPIRED');
});

test('client port: TLS 1.2 is refused', async () => {
  const options = { ...clientTlsOptions(await loadTlsMaterial(clientFiles(dir, 'alice'))), minVersion: 'TLSv1.2' as const, maxVersion: 'TLSv1.2' as const };
  assert.match(refused(await attempt(clientPort.port, options)), /PROTOCOL_VERSION/);
});

test('client port: a certificate revoked with `coffer ca revoke` is refused once the CRL is reloaded', async () => {
  const options = clientTlsOptions(await loadTlsMaterial(clientFiles(dir, 'carol')));
  const before = await attempt(clientPort.port, options);
  accepted(before);
  before.socket.destroy();

  const serial = (await loadTlsMaterial(clientFiles(dir, 'carol'))).serial;
  const out: string[] = [];
  const status = await runCli(['ca', 'revoke', serial, '--dir', dir], { out: (t) => out.push(t), err: (t) => out.push(t), env: {} });
  assert.equal(status, 0, out.join(''));
  await reloader.reload(); // what SIGHUP does; the file watcher path is tested in reload.test.ts

  const reason = clientPort.nextRefusal();
  refused(await attempt(clientPort.port, options));
  assert.equal(await reason, 'CERT_REVOKED');
  const stillFine = await attempt(clientPort.port, clientTlsOptions(await loadTlsMaterial(clientFiles(dir, 'alice'))));
  accepted(stillFine);
  stillFine.socket.destroy();
});

test('peer port: a member certificate claiming its own name is accepted as that member', async () => {
  const result = await attempt(peerPort.port, clientTlsOptions(await loadTlsMaterial(memberFiles(dir, 'm2')), { expectedMember: 'm1' }), 'm2');
  accepted(result);
  assert.deepEqual(result.greeting, { member: 'm2' });
  result.socket.destroy();
});

test('peer port: a client certificate is refused', async () => {
  const reason = peerPort.nextRefusal();
  refused(await attempt(peerPort.port, clientTlsOptions(await loadTlsMaterial(clientFiles(dir, 'admin'))), 'admin'));
  assert.equal(await reason, 'NOT_A_MEMBER_CERT');
});

test('peer port: a member certificate claiming another member name is refused', async () => {
  const reason = peerPort.nextRefusal();
  refused(await attempt(peerPort.port, clientTlsOptions(await loadTlsMaterial(memberFiles(dir, 'm2'))), 'm3'));
  assert.equal(await reason, 'PEER_NAME_MISMATCH');
});

test('peer port: a member certificate of the same name from another CA is refused', async () => {
  const options = await rawClientOptions(`${dir}/ca.crt`, { cert: `${otherDir}/members/m2.crt`, key: `${otherDir}/members/m2.key` });
  const reason = peerPort.nextRefusal();
  refused(await attempt(peerPort.port, options, 'm2'));
  assert.equal(await reason, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});

test('dialing a peer: a server that is not the expected member is refused by the dialer', async () => {
  // The listener holds m1's certificate; a dialer that meant to reach m3 must not talk to it.
  const result = await attempt(peerPort.port, clientTlsOptions(await loadTlsMaterial(memberFiles(dir, 'm2')), { expectedMember: 'm3' }), 'm2');
  assert.match(refused(result), /PEER_NAME_MISMATCH: peer claims to be member "m3" but its certificate is member "m1"/);
});
