// What the CA writes, checked with OpenSSL: chains, extensions, PKCS#12, key encryption, file modes,
// CRL after revocation, and refusal to overwrite.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { newPassphraseCharsMin } from '../../../src/config/index.ts';
import { bootstrapCa, initCa, issueClient, issueMember, loadCa, loadTlsMaterial, revokeCertificate } from '../../../src/pki/index.ts';
import { clientFiles, memberFiles, tempDir } from './tls-harness.ts';

const run = promisify(execFile);
const openssl = (...args: string[]) => run('/usr/bin/openssl', args);

let dir: string;
let remove: () => Promise<void>;

before(async () => {
  ({ dir, remove } = await tempDir('ca-files'));
  await bootstrapCa({ dir, members: ['m1', 'm2', 'm3'], hosts: ['127.0.0.1', 'localhost'], admin: 'admin' });
  await issueClient(await loadCa(dir), { user: 'alice', groups: ['dev', 'ops'], p12Password: 'from-env' });
});

after(async () => { await remove(); });

test('openssl verify accepts every issued certificate against ca.crt', async () => {
  const certs = ['members/m1.crt', 'members/m2.crt', 'members/m3.crt', 'clients/admin.crt', 'clients/alice.crt'].map((f) => `${dir}/${f}`);
  const { stdout } = await openssl('verify', '-x509_strict', '-crl_check', '-CRLfile', `${dir}/crl.pem`, '-CAfile', `${dir}/ca.crt`, ...certs);
  for (const cert of certs) assert.match(stdout, new RegExp(`${cert}: OK`));
});

test('the CA certificate: CA:TRUE pathlen 0 (critical), keyCertSign + cRLSign (critical), ECDSA P-256 / SHA-256', async () => {
  const { stdout } = await openssl('x509', '-in', `${dir}/ca.crt`, '-noout', '-text');
  assert.match(stdout, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  assert.match(stdout, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
  assert.match(stdout, /X509v3 Subject Key Identifier/);
  assert.match(stdout, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(stdout, /NIST CURVE: P-256/);
});

test('a member certificate: CN and O, serverAuth + clientAuth, DNS, IP and member URI SANs', async () => {
  const { stdout } = await openssl('x509', '-in', `${dir}/members/m2.crt`, '-noout', '-text');
  assert.match(stdout, /Subject: CN = m2, O = coffer:members/);
  assert.match(stdout, /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.match(stdout, /X509v3 Subject Alternative Name:\s+DNS:localhost, IP Address:127\.0\.0\.1, URI:coffer:\/\/member\/m2/);
  assert.match(stdout, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
  assert.match(stdout, /X509v3 Authority Key Identifier/);
  assert.match(stdout, /NIST CURVE: P-256/);
});

test('a client certificate: CN user, one O per group, clientAuth only', async () => {
  const { stdout } = await openssl('x509', '-in', `${dir}/clients/alice.crt`, '-noout', '-text');
  assert.match(stdout, /Subject: CN = alice, O = dev, O = ops/);
  assert.match(stdout, /X509v3 Extended Key Usage:\s+TLS Web Client Authentication\n/);
  assert.doesNotMatch(stdout, /Server Authentication|Subject Alternative Name/);
});

test('serials are random, positive and at most 128 bits', async () => {
  const serials = await Promise.all(['members/m1.crt', 'members/m2.crt', 'clients/admin.crt'].map(async (f) =>
    (await openssl('x509', '-in', `${dir}/${f}`, '-noout', '-serial')).stdout.trim().replace('serial=', '')));
  assert.equal(new Set(serials).size, 3);
  for (const serial of serials) assert.ok(serial.length <= 32 && serial.length >= 16, serial);
});

test('the admin .p12 opens with the generated password file and not with another password', async () => {
  const { stdout } = await openssl('pkcs12', '-in', `${dir}/clients/admin.p12`, '-passin', `file:${dir}/clients/admin.p12.pass`, '-nodes');
  assert.match(stdout, /subject=CN = admin, O = system:masters/);
  assert.match(stdout, /BEGIN PRIVATE KEY/);
  await assert.rejects(openssl('pkcs12', '-in', `${dir}/clients/admin.p12`, '-passin', 'pass:wrong', '-noout'));
});

test('with COFFER_P12_PASSWORD the .p12 opens with that password and no password file is written', async () => {
  await openssl('pkcs12', '-in', `${dir}/clients/alice.p12`, '-passin', 'pass:from-env', '-noout');
  await assert.rejects(stat(`${dir}/clients/alice.p12.pass`), { code: 'ENOENT' });
});

test('private keys, .p12 files and password files are mode 0600; certificates are 0644', async () => {
  const mode = async (f: string) => (await stat(`${dir}/${f}`)).mode & 0o777;
  for (const f of ['ca.key', 'members/m1.key', 'members/m3.key', 'clients/admin.key', 'clients/admin.p12', 'clients/admin.p12.pass']) {
    assert.equal(await mode(f), 0o600, f);
  }
  for (const f of ['ca.crt', 'crl.pem', 'members/m1.crt', 'clients/admin.crt']) assert.equal(await mode(f), 0o644, f);
});

test('without a passphrase ca.key is plain PKCS#8; with COFFER_CA_PASSPHRASE it is encrypted PKCS#8', async () => {
  assert.match(await readFile(`${dir}/ca.key`, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  const enc = await tempDir('ca-files-enc');
  try {
    await bootstrapCa({ dir: enc.dir, passphrase: 'correct horse', p12Password: 'x' });
    assert.match(await readFile(`${enc.dir}/ca.key`, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    await openssl('pkey', '-in', `${enc.dir}/ca.key`, '-passin', 'pass:correct horse', '-noout');
    await assert.rejects(openssl('pkey', '-in', `${enc.dir}/ca.key`, '-passin', 'pass:wrong', '-noout'));
    await assert.rejects(loadCa(enc.dir), { code: 'CA_PASSPHRASE_REQUIRED', message: `${enc.dir}/ca.key is encrypted: set COFFER_CA_PASSPHRASE` });
    await assert.rejects(loadCa(enc.dir, 'wrong'), { code: 'CA_PASSPHRASE_WRONG' });
    await issueMember(await loadCa(enc.dir, 'correct horse'), { name: 'm9', hosts: ['127.0.0.1'] });
  } finally {
    await enc.remove();
  }
});

test('a COFFER_CA_PASSPHRASE shorter than newPassphraseCharsMin is refused before anything is written, naming its length only', async () => {
  const short = 'p'.repeat(newPassphraseCharsMin - 1);
  const empty = await tempDir('ca-files-short');
  try {
    const refused = { code: 'CA_PASSPHRASE_SHORT', message: `COFFER_CA_PASSPHRASE is ${newPassphraseCharsMin - 1} characters; a new CA key needs at least ${newPassphraseCharsMin}: ca.key can be attacked offline` };
    await assert.rejects(bootstrapCa({ dir: empty.dir, passphrase: short }), refused);
    await assert.rejects(initCa({ dir: empty.dir, passphrase: short }), refused);
    assert.deepEqual(await readdir(empty.dir), []);
  } finally {
    await empty.remove();
  }
});

test('after revocation openssl finds the serial in crl.pem and verify -crl_check refuses the certificate', async () => {
  const m3 = await loadTlsMaterial(memberFiles(dir, 'm3'));
  await revokeCertificate(await loadCa(dir), m3.serial);
  const { stdout } = await openssl('crl', '-in', `${dir}/crl.pem`, '-noout', '-text');
  assert.match(stdout, new RegExp(`Serial Number: ${m3.serial.toUpperCase()}`));
  assert.match(stdout, /X509v3 CRL Number:\s+2/);
  await assert.rejects(
    openssl('verify', '-crl_check', '-CRLfile', `${dir}/crl.pem`, '-CAfile', `${dir}/ca.crt`, `${dir}/members/m3.crt`),
    (e: Error & { stdout?: string; stderr?: string }) => /certificate revoked/.test(`${e.stdout ?? ''}${e.stderr ?? ''}`),
  );
});

test('bootstrap without force refuses an existing CA and leaves every file byte-identical', async () => {
  const files = ['ca.crt', 'ca.key', 'crl.pem', 'issued.json', 'members/m1.crt', 'members/m1.key', 'clients/admin.p12'];
  const before = await Promise.all(files.map((f) => readFile(`${dir}/${f}`)));
  await assert.rejects(bootstrapCa({ dir, members: ['m1'] }), { code: 'CA_EXISTS', message: `${dir}/ca.crt already exists; pass --force to replace the CA (every issued certificate stops working)` });
  const afterwards = await Promise.all(files.map((f) => readFile(`${dir}/${f}`)));
  files.forEach((f, i) => assert.ok(afterwards[i]?.equals(before[i] ?? Buffer.alloc(0)), f));
});

test('issuing over an existing name needs force; a leaf may not outlive the CA', async () => {
  const signer = await loadCa(dir);
  await assert.rejects(issueMember(signer, { name: 'm1', hosts: ['127.0.0.1'] }), { code: 'CERT_EXISTS', message: `${dir}/members/m1.crt already exists; pass --force to replace it` });
  await assert.rejects(issueClient(signer, { user: 'longlived', days: 3650 * 2, p12Password: 'x' }), { code: 'INVALID_VALIDITY' });
  const replaced = await issueMember(signer, { name: 'm1', hosts: ['127.0.0.1'], force: true });
  assert.equal((await loadTlsMaterial(clientFiles(dir, 'admin'))).ca, (await loadTlsMaterial(memberFiles(dir, 'm1'))).ca);
  assert.equal((await loadTlsMaterial(memberFiles(dir, 'm1'))).serial, replaced.serial);
});

test('bootstrap with --days beyond the default CA validity makes the CA last at least as long as its leaves', async () => {
  const long = await tempDir('ca-files-long');
  try {
    await bootstrapCa({ dir: long.dir, days: 5000, p12Password: 'x' });
    const ca = (await loadCa(long.dir)).cert;
    const member = await loadTlsMaterial(memberFiles(long.dir, 'default'));
    assert.ok(ca.notAfter >= member.notAfter);
  } finally {
    await long.remove();
  }
});
