import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { IntegrityError, pageOverheadBytes, type PagePosition, RecordKind, sodiumReady } from '../../../src/crypto/index.ts';
import { hchacha20, opensslAeadBytesMin, throughOpenssl, xchachaOpenOpenssl, xchachaSealOpenssl } from '../../../src/crypto/xchacha-openssl.ts';
import { keyFileKeyring, tempDir } from './helpers.ts';

test('HChaCha20 gives the test vector of draft-irtf-cfrg-xchacha (section 2.2.1)', () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  const input = Buffer.from('000000090000004a0000000031415927', 'hex');
  assert.equal(Buffer.from(hchacha20(key, input)).toString('hex'), '82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc');
});

test("OpenSSL's XChaCha20-Poly1305 writes libsodium's bytes, and each opens what the other sealed", async () => {
  const sodium = await sodiumReady();
  const sizes = [0, 1, 15, 16, 17, 63, 64, 65, 4095, 4096, 4097, 65_536 + 3, 1_048_576];
  for (const size of sizes) {
    for (let round = 0; round < 8; round++) {
      const key = randomBytes(32);
      const nonce = randomBytes(24);
      const additional = randomBytes(round * 7);
      const plaintext = randomBytes(size);
      const fromLibsodium = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, additional, null, nonce, key);
      const fromOpenssl = xchachaSealOpenssl(plaintext, additional, nonce, key);
      assert.ok(Buffer.from(fromOpenssl).equals(Buffer.from(fromLibsodium)), `size ${size}, round ${round}: the sealed bytes differ`);
      assert.ok(Buffer.from(xchachaOpenOpenssl(fromLibsodium, additional, nonce, key)!).equals(plaintext), `size ${size}: OpenSSL opens libsodium's`);
      assert.ok(Buffer.from(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, fromOpenssl, additional, nonce, key)).equals(plaintext));
    }
  }
});

test('OpenSSL opens nothing that was altered: a flipped bit anywhere, another key, nonce or additional data, a cut tag', () => {
  const key = randomBytes(32);
  const nonce = randomBytes(24);
  const additional = randomBytes(40);
  const sealed = xchachaSealOpenssl(randomBytes(opensslAeadBytesMin + 100), additional, nonce, key);
  for (let byte = 0; byte < sealed.length; byte++) {
    const flipped = Uint8Array.from(sealed);
    flipped[byte]! ^= 1 << (byte % 8);
    assert.equal(xchachaOpenOpenssl(flipped, additional, nonce, key), undefined, `byte ${byte}`);
  }
  const other = (bytes: Uint8Array, at: number): Uint8Array => {
    const copy = Uint8Array.from(bytes);
    copy[at]! ^= 0x80;
    return copy;
  };
  assert.equal(xchachaOpenOpenssl(sealed, additional, nonce, other(key, 31)), undefined);
  assert.equal(xchachaOpenOpenssl(sealed, additional, other(nonce, 3), key), undefined);
  assert.equal(xchachaOpenOpenssl(sealed, additional, other(nonce, 20), key), undefined);
  assert.equal(xchachaOpenOpenssl(sealed, other(additional, 0), nonce, key), undefined);
  assert.equal(xchachaOpenOpenssl(sealed.subarray(0, sealed.length - 1), additional, nonce, key), undefined);
  assert.equal(xchachaOpenOpenssl(sealed.subarray(0, 15), additional, nonce, key), undefined);
  assert.notEqual(xchachaOpenOpenssl(sealed, additional, nonce, key), undefined, 'the unaltered page still opens');
});

test('a large page opens only at its position, and a flipped bit fails with IntegrityError naming no content', async (t) => {
  // This Node's OpenSSL has the ciphers, so the page below really goes through OpenSSL.
  assert.ok(throughOpenssl(opensslAeadBytesMin) && !throughOpenssl(opensslAeadBytesMin - 1));
  const { keyring } = await keyFileKeyring(await tempDir(t));
  const position: PagePosition = { storeId: 'member-1/wal', kind: RecordKind.walEntry, index: 7, sub: 0 };
  const plaintext = Buffer.alloc(opensslAeadBytesMin * 3, 'secret-value ');
  const sealed = keyring.seal(plaintext, position);
  assert.equal(sealed.length, plaintext.length + pageOverheadBytes);
  assert.ok(Buffer.from(keyring.open(sealed, position)).equals(plaintext));
  const refused = (error: unknown): boolean => {
    assert.ok(error instanceof IntegrityError, String(error));
    assert.ok(!error.message.includes('secret-value'));
    return true;
  };
  assert.throws(() => keyring.open(sealed, { ...position, index: 8 }), refused);
  assert.throws(() => keyring.open(sealed, { ...position, storeId: 'member-2/wal' }), refused);
  for (const at of [0, 5, 30, sealed.length >> 1, sealed.length - 1]) {
    const flipped = Uint8Array.from(sealed);
    flipped[at]! ^= 1;
    assert.throws(() => keyring.open(flipped, position), refused, `byte ${at}`);
  }
  await keyring.close();
});
