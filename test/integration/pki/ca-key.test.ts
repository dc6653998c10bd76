// ca.key encrypted with COFFER_CA_PASSPHRASE: an EncryptedPrivateKeyInfo with PBES2 — PBKDF2-HMAC-SHA256
// at caKeyPbkdf2Iterations and AES-256-CBC — that node and OpenSSL open with the passphrase and only with
// it; a key written before, at OpenSSL's default 2,048 iterations, still loads.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { caKeyPbkdf2Iterations } from '../../../src/config/index.ts';
import { caLayout, initCa, issueMember, loadCa } from '../../../src/pki/index.ts';
import { tempDir } from './tls-harness.ts';

const openssl = (...args: string[]) => promisify(execFile)('/usr/bin/openssl', args);
const passphrase = 'correct horse battery';
const { asn1, pki } = forge;

interface Pbes2 {
  scheme: string;
  kdf: string;
  saltBytes: number;
  iterations: number;
  prf: string;
  cipher: string;
  ivBytes: number;
}

/** The PBES2 parameters of an ENCRYPTED PRIVATE KEY PEM (RFC 8018 A.4, RFC 5958). */
function pbes2Of(pem: string): Pbes2 {
  const [block] = forge.pem.decode(pem);
  assert.equal(block?.type, 'ENCRYPTED PRIVATE KEY');
  const at = (node: forge.asn1.Asn1, ...path: number[]): forge.asn1.Asn1 =>
    path.reduce((n, i) => (n.value as forge.asn1.Asn1[])[i] as forge.asn1.Asn1, node);
  const bytes = (node: forge.asn1.Asn1) => node.value as string;
  const oid = (node: forge.asn1.Asn1) => pki.oids[asn1.derToOid(bytes(node))] as string;
  const info = asn1.fromDer(block.body);
  const algorithm = at(info, 0);
  const kdfParams = at(algorithm, 1, 0, 1);
  // keyLength (optional) is left out; prf is the last field either way.
  const prf = at(kdfParams, (kdfParams.value as unknown[]).length - 1);
  return {
    scheme: oid(at(algorithm, 0)),
    kdf: oid(at(algorithm, 1, 0, 0)),
    saltBytes: bytes(at(kdfParams, 0)).length,
    iterations: asn1.derToInteger(bytes(at(kdfParams, 1))),
    prf: oid(at(prf, 0)),
    cipher: oid(at(algorithm, 1, 1, 0)),
    ivBytes: bytes(at(algorithm, 1, 1, 1)).length,
  };
}

test('an encrypted ca.key is PBES2: PBKDF2-HMAC-SHA256 at caKeyPbkdf2Iterations, AES-256-CBC; node and openssl open it with the passphrase only', async (t) => {
  const { dir, remove } = await tempDir('ca-key');
  t.after(remove);
  await initCa({ dir, passphrase });
  const pem = await readFile(caLayout(dir).caKey, 'utf8');

  assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
  assert.deepEqual(pbes2Of(pem), {
    scheme: 'pkcs5PBES2', kdf: 'pkcs5PBKDF2', saltBytes: 16, iterations: caKeyPbkdf2Iterations,
    prf: 'hmacWithSHA256', cipher: 'aes256-CBC', ivBytes: 16,
  });
  const key = createPrivateKey({ key: pem, passphrase });
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.throws(() => createPrivateKey({ key: pem, passphrase: 'wrong horse battery' }));
  await openssl('pkey', '-in', caLayout(dir).caKey, '-passin', `pass:${passphrase}`, '-noout');
  await assert.rejects(openssl('pkey', '-in', caLayout(dir).caKey, '-passin', 'pass:wrong horse battery', '-noout'));
  await assert.rejects(loadCa(dir, 'wrong horse battery'), { code: 'CA_PASSPHRASE_WRONG' });
  await issueMember(await loadCa(dir, passphrase), { name: 'm1', hosts: ['127.0.0.1'] });
});

test('a ca.key encrypted before, at OpenSSL\'s default 2,048 iterations, still loads and signs', async (t) => {
  const { dir, remove } = await tempDir('ca-key-old');
  t.after(remove);
  await initCa({ dir, passphrase });
  const keyFile = caLayout(dir).caKey;
  const key = createPrivateKey({ key: await readFile(keyFile, 'utf8'), passphrase });
  // What ca.key was until the count was set: node's export, taking OpenSSL's default.
  const old = key.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase }).toString();
  assert.equal(pbes2Of(old).iterations, 2048);
  await writeFile(keyFile, old, { mode: 0o600 });

  const signer = await loadCa(dir, passphrase);
  await issueMember(signer, { name: 'm1', hosts: ['127.0.0.1'] });
  await assert.rejects(loadCa(dir, 'wrong horse battery'), { code: 'CA_PASSPHRASE_WRONG' });
});
