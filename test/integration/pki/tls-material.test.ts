// loadTlsMaterial's one-line errors: each names the problem and the file.
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { bootstrapCa, initCa, issueMember, loadCa, loadTlsMaterial, revokeCertificate, x509 } from '../../../src/pki/index.ts';
import { memberFiles, tempDir } from './tls-harness.ts';

const dayMs = 86_400_000;
let dir: string;
let otherDir: string;
let remove: () => Promise<void>;

before(async () => {
  const a = await tempDir('material');
  const b = await tempDir('material-other');
  dir = a.dir;
  otherDir = b.dir;
  remove = async () => { await a.remove(); await b.remove(); };
  await bootstrapCa({ dir, members: ['m1', 'm2'], p12Password: 'test' });
  const signer = await loadCa(dir);
  await issueMember(signer, { name: 'expired', hosts: ['127.0.0.1'], nowMs: Date.now() - 10 * dayMs, days: 1 });
  await issueMember(signer, { name: 'future', hosts: ['127.0.0.1'], nowMs: Date.now() + 10 * dayMs, days: 1 });
  const other = await initCa({ dir: otherDir });
  await issueMember(other.signer, { name: 'm1', hosts: ['127.0.0.1'] });
});

after(async () => { await remove(); });

function oneLine(error: unknown): string {
  assert.ok(error instanceof Error);
  assert.doesNotMatch(error.message, /\n/);
  return error.message;
}

test('valid material loads with its serial', async () => {
  const material = await loadTlsMaterial(memberFiles(dir, 'm1'));
  assert.match(material.serial, /^[0-9a-f]+$/);
  assert.ok(material.crl?.includes('BEGIN X509 CRL'));
});

test('a missing file is named', async () => {
  const files = { ...memberFiles(dir, 'm1'), cert: `${dir}/members/nope.crt` };
  await assert.rejects(loadTlsMaterial(files), (e) => oneLine(e) === `missing file: ${dir}/members/nope.crt` && (e as { code?: string }).code === 'FILE_MISSING');
});

test('a key that does not match the certificate names both files', async () => {
  const files = { ...memberFiles(dir, 'm1'), key: `${dir}/members/m2.key` };
  await assert.rejects(loadTlsMaterial(files), (e) =>
    oneLine(e) === `key ${dir}/members/m2.key does not match certificate ${dir}/members/m1.crt` && (e as { code?: string }).code === 'KEY_MISMATCH');
});

test('an expired certificate says when it expired', async () => {
  await assert.rejects(loadTlsMaterial(memberFiles(dir, 'expired')), (e) =>
    /^certificate .*expired\.crt expired at \d{4}-\d\d-\d\dT/.test(oneLine(e)) && (e as { code?: string }).code === 'CERT_EXPIRED');
});

test('a not-yet-valid certificate says from when', async () => {
  await assert.rejects(loadTlsMaterial(memberFiles(dir, 'future')), (e) =>
    /^certificate .*future\.crt is not valid until \d{4}-/.test(oneLine(e)) && (e as { code?: string }).code === 'CERT_NOT_YET_VALID');
});

test('a certificate from another CA is an unknown CA', async () => {
  const files = { ...memberFiles(otherDir, 'm1'), ca: `${dir}/ca.crt`, crl: `${dir}/crl.pem` };
  await assert.rejects(loadTlsMaterial(files), (e) =>
    oneLine(e) === `certificate ${otherDir}/members/m1.crt was not issued by the CA in ${dir}/ca.crt` && (e as { code?: string }).code === 'UNKNOWN_CA');
});

test('a CRL signed by another CA is refused', async () => {
  const files = { ...memberFiles(dir, 'm1'), crl: `${otherDir}/crl.pem` };
  await assert.rejects(loadTlsMaterial(files), (e) =>
    oneLine(e) === `CRL ${otherDir}/crl.pem was not signed by the CA in ${dir}/ca.crt` && (e as { code?: string }).code === 'UNKNOWN_CA');
});

test('a file that is not PEM is named', async () => {
  await copyFile(`${dir}/issued.json`, `${dir}/members/junk.crt`);
  const files = { ...memberFiles(dir, 'm1'), cert: `${dir}/members/junk.crt` };
  await assert.rejects(loadTlsMaterial(files), (e) => oneLine(e) === `${dir}/members/junk.crt is not a PEM certificate`);
});

test('revoking through the library rewrites the CRL that the material then carries', async () => {
  const signer = await loadCa(dir);
  const m2 = await loadTlsMaterial(memberFiles(dir, 'm2'));
  await revokeCertificate(signer, m2.serial);
  const reloaded = await loadTlsMaterial(memberFiles(dir, 'm1'));
  assert.equal(new x509.X509Crl(reloaded.crl ?? '').findRevoked(m2.serial)?.serialNumber, m2.serial);
});
