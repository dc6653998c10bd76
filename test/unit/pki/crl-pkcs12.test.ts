import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { test } from 'node:test';
import { buildPkcs12, crlNumberOf, crlToPem, derInteger, generateKeyPair, keyIdOf, signCrl, x509 } from '../../../src/pki/index.ts';
import { clientCert, der, memoryCa } from './memory-ca.ts';

const ca = await memoryCa();

test('derInteger encodes CRL numbers as minimal positive DER integers', () => {
  assert.deepEqual([...derInteger(0)], [0x02, 0x01, 0x00]);
  assert.deepEqual([...derInteger(127)], [0x02, 0x01, 0x7f]);
  assert.deepEqual([...derInteger(128)], [0x02, 0x02, 0x00, 0x80]);
  assert.deepEqual([...derInteger(65_536)], [0x02, 0x03, 0x01, 0x00, 0x00]);
});

test('crlNumberOf reads back the number signCrl wrote, undefined without one, and refuses a negative one', async () => {
  const common = { issuer: ca.cert.subjectName, thisUpdate: new Date('2026-01-01T00:00:00Z'), nextUpdate: ca.cert.notAfter };
  for (const crlNumber of [0, 127, 128, 65_536, Number.MAX_SAFE_INTEGER]) {
    const crl = await signCrl({ ...common, authorityKeyId: ca.keyId, crlNumber, revoked: [] }, ca.key);
    assert.equal(crlNumberOf(new x509.X509Crl(crlToPem(crl))), BigInt(crlNumber));
  }
  const signing = { ...common, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' }, signingKey: ca.key };
  assert.equal(crlNumberOf(await x509.X509CrlGenerator.create(signing)), undefined);
  const negative = await x509.X509CrlGenerator.create({ ...signing, extensions: [new x509.Extension('2.5.29.20', false, Uint8Array.from([0x02, 0x01, 0xff]))] });
  assert.throws(() => crlNumberOf(negative), RangeError);
});

test('a CRL lists the revoked serials, verifies with the CA key and is PEM-labelled "X509 CRL"', async () => {
  const crl = await signCrl({
    issuer: ca.cert.subjectName,
    authorityKeyId: ca.keyId,
    crlNumber: 7,
    thisUpdate: new Date('2026-01-01T00:00:00Z'),
    nextUpdate: ca.cert.notAfter,
    revoked: [{ serial: '0abc', revokedAt: new Date('2026-01-01T00:00:00Z') }],
  }, ca.key);
  assert.ok(await crl.verify({ publicKey: ca.cert.publicKey }));
  assert.equal(crl.entries.length, 1);
  assert.equal(crl.entries[0]?.serialNumber, '0abc');
  const pem = crlToPem(crl);
  assert.match(pem, /^-----BEGIN X509 CRL-----\n/);
  assert.equal(new x509.X509Crl(pem).entries[0]?.serialNumber, '0abc');
});

test('a PKCS#12 opens with its password (node/OpenSSL) and not with another', async () => {
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '01', subject: 'CN=p12', issuer: ca.cert.subjectName, publicKey: keys.publicKey, signingKey: ca.key,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectKeyIdentifierExtension(await keyIdOf(keys.publicKey))],
  });
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const p12 = buildPkcs12({ certificateDer: der(cert), chainDer: [der(ca.cert)], privateKeyPkcs8Der: pkcs8, password: 'correct horse', friendlyName: 'p12' });
  assert.doesNotThrow(() => createSecureContext({ pfx: p12, passphrase: 'correct horse' }));
  assert.throws(() => createSecureContext({ pfx: p12, passphrase: 'wrong' }), /mac verify failure|bad decrypt|pkcs12/i);
});

test('a client certificate built in memory chains to the CA', async () => {
  const cert = await clientCert(ca, 'bob');
  assert.ok(await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true }));
  assert.equal(cert.issuer, ca.cert.subject);
});
