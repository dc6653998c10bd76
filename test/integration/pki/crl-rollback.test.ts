// A CRL put back. crl.pem is a public file, handed around by ConfigMaps, config management and rsync;
// whoever can write a member's copy could put back an earlier CRL of the same CA (the empty one `coffer
// ca init` wrote) and un-revoke every certificate revoked since. A reload refuses a CRL older than the
// one loaded, keeps the material it has and says why, in one line, through 'reloadFailed'.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type CaSigner, caLayout, clientTlsOptions, crlToPem, initCa, issueMember, loadTlsMaterial, readRegistry, revokeCertificate, signCrl, type TlsFiles, TlsReloader, x509,
} from '../../../src/pki/index.ts';
import { attempt, caWithClients, clientFiles, memberFiles, startServer } from './tls-harness.ts';

let dir: string;
let remove: () => Promise<void>;
let signer: CaSigner;

before(async () => {
  ({ dir, remove, signer } = await caWithClients('crl-rollback', ['eve', 'mallory', 'trudy']));
});

after(async () => {
  await remove();
});

const text = (path: string) => readFile(path, 'utf8');
const crlNumber = async () => (await readRegistry(caLayout(dir))).crlNumber;

/** m1's files and the CA's current crl.pem, copied into `conf`: the member's own copies, which the test then overwrites. */
async function memberCopy(conf: string, from: TlsFiles & { crl: string } = memberFiles(dir, 'm1')): Promise<TlsFiles & { crl: string }> {
  await mkdir(conf, { recursive: true });
  const files = { cert: join(conf, 'm1.crt'), key: join(conf, 'm1.key'), ca: join(conf, 'ca.crt'), crl: join(conf, 'crl.pem') };
  for (const which of ['cert', 'key', 'ca', 'crl'] as const) await writeFile(files[which], await text(from[which]));
  return files;
}

/** Revokes `user` with the CA (as `coffer ca revoke` does), copies the new crl.pem to the member and reloads it; returns the serial. */
async function revokeAndReload(reloader: TlsReloader, files: { crl: string }, user: string): Promise<string> {
  const serial = (await loadTlsMaterial(clientFiles(dir, user))).serial;
  await revokeCertificate(signer, serial);
  await writeFile(files.crl, await text(caLayout(dir).crl));
  assert.ok((await reloader.reload()).revokedSerials.has(serial));
  return serial;
}

/** Asserts the reload is refused with `message` (one line, through 'reloadFailed' as well) and the loaded CRL stays. */
async function refused(reloader: TlsReloader, message: string): Promise<void> {
  const loaded = reloader.material.crl;
  const failed = once(reloader, 'reloadFailed') as Promise<[Error & { code?: string }]>;
  await assert.rejects(reloader.reload(), { code: 'CRL_STALE', message });
  const [reported] = await failed;
  assert.equal(reported.message, message);
  assert.equal(reloader.material.crl, loaded, 'the loaded CRL stays');
}

test('an earlier CRL written back is refused: the member keeps the later one and the revoked certificate stays refused', { timeout: 20_000 }, async () => {
  const files = await memberCopy(join(dir, 'back'));
  const reloader = await TlsReloader.open(files);
  const server = await startServer(reloader, 'client');
  try {
    const earlier = await text(files.crl);
    const earlierNumber = await crlNumber();
    const serial = await revokeAndReload(reloader, files, 'eve');
    const laterNumber = await crlNumber();
    assert.ok(laterNumber > earlierNumber);

    await writeFile(files.crl, earlier);
    await refused(reloader, `CRL ${files.crl} is number ${earlierNumber}, older than the loaded CRL's number ${laterNumber}; keeping the loaded CRL`);
    assert.ok(reloader.material.revokedSerials.has(serial));
    const refusal = server.nextRefusal();
    const again = await attempt(server.port, clientTlsOptions(await loadTlsMaterial(clientFiles(dir, 'eve'))));
    assert.equal(again.accepted, false);
    assert.equal(await refusal, 'CERT_REVOKED');

    // The CA certificate's file rewritten (the same CA) does not make the order start again.
    await appendFile(files.ca, '\n');
    await refused(reloader, `CRL ${files.crl} is number ${earlierNumber}, older than the loaded CRL's number ${laterNumber}; keeping the loaded CRL`);
  } finally {
    await server.close();
    reloader.close();
  }
});

test('a CRL without a number, or another CRL under the loaded number, is refused', async () => {
  const files = await memberCopy(join(dir, 'forged'));
  const reloader = await TlsReloader.open(files);
  try {
    await revokeAndReload(reloader, files, 'mallory');
    const number = await crlNumber();
    const thisUpdate = new Date();
    const common = { issuer: signer.cert.subjectName, thisUpdate, nextUpdate: signer.cert.notAfter };

    const unnumbered = await x509.X509CrlGenerator.create({
      ...common, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, signingKey: signer.key,
      extensions: [new x509.AuthorityKeyIdentifierExtension(signer.keyId)],
    });
    await writeFile(files.crl, crlToPem(unnumbered));
    await refused(reloader, `CRL ${files.crl} has no CRL number and the loaded CRL is number ${number}; keeping the loaded CRL`);

    const sameNumber = await signCrl({ ...common, authorityKeyId: signer.keyId, crlNumber: number, revoked: [] }, signer.key);
    await writeFile(files.crl, crlToPem(sameNumber));
    await refused(reloader, `CRL ${files.crl} is number ${number}, as the loaded CRL is, but differs from it; keeping the loaded CRL`);

    // The loaded CRL itself, read again, is no change.
    await writeFile(files.crl, reloader.material.crl ?? '');
    await reloader.reload();
  } finally {
    reloader.close();
  }
});

test('a new CA (another key) starts its own CRL numbers', async () => {
  const files = await memberCopy(join(dir, 'new-ca'));
  const reloader = await TlsReloader.open(files);
  try {
    await revokeAndReload(reloader, files, 'trudy');
    const other = await initCa({ dir: join(dir, 'other-ca') });
    await issueMember(other.signer, { name: 'm1', hosts: ['127.0.0.1'] });
    await memberCopy(join(dir, 'new-ca'), memberFiles(other.signer.layout.dir, 'm1'));
    const material = await reloader.reload();
    assert.equal(material.ca, await text(other.signer.layout.caCert));
    assert.equal(material.revokedSerials.size, 0);
  } finally {
    reloader.close();
  }
});
