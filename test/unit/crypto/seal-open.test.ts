import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IntegrityError, pageHeaderBytes, pageOverheadBytes, type PagePosition, RecordKind } from '../../../src/crypto/index.ts';
import { keyFileKeyring, tempDir } from './helpers.ts';

const position: PagePosition = { storeId: 'member-1/wal', kind: RecordKind.walEntry, index: 42, sub: 0 };
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

test('a sealed page opens to its plaintext at its position', async (t) => {
  const { keyring } = await keyFileKeyring(await tempDir(t));
  const sealed = keyring.seal(bytes('password=hunter2'), position);
  assert.equal(sealed.length, 'password=hunter2'.length + pageOverheadBytes);
  assert.equal(text(keyring.open(sealed, position)), 'password=hunter2');
  assert.equal(keyring.dekIdOf(sealed), keyring.activeDekId());
  assert.equal(text(keyring.open(keyring.seal(new Uint8Array(0), position), position)), '');
  await keyring.close();
});

test('two seals of the same plaintext differ (fresh nonce each time)', async (t) => {
  const { keyring } = await keyFileKeyring(await tempDir(t));
  const a = keyring.seal(bytes('same'), position);
  const b = keyring.seal(bytes('same'), position);
  assert.notDeepEqual(a.subarray(5, pageHeaderBytes), b.subarray(5, pageHeaderBytes));
  assert.notDeepEqual(a, b);
  await keyring.close();
});

test('every single-bit flip in header, nonce, ciphertext and tag fails to open', async (t) => {
  const { keyring } = await keyFileKeyring(await tempDir(t));
  const sealed = keyring.seal(bytes('a secret value of some length'), position);
  let failures = 0;
  for (let byte = 0; byte < sealed.length; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      const flipped = Uint8Array.from(sealed);
      flipped[byte]! ^= 1 << bit;
      assert.throws(() => keyring.open(flipped, position), (error: unknown) => {
        assert.ok(error instanceof IntegrityError, `byte ${byte} bit ${bit}: ${String(error)}`);
        assert.equal(error.code, 'E_INTEGRITY');
        assert.ok(!error.message.includes('secret value'));
        return true;
      });
      failures++;
    }
  }
  assert.equal(failures, sealed.length * 8);
  // The unflipped page still opens: the failures were the flips, not the key.
  assert.equal(text(keyring.open(sealed, position)), 'a secret value of some length');
  await keyring.close();
});

test('a page moved to another store, kind, index or sub fails to open there', async (t) => {
  const { keyring } = await keyFileKeyring(await tempDir(t));
  const sealed = keyring.seal(bytes('v'), position);
  const elsewhere: PagePosition[] = [
    { ...position, storeId: 'member-2/wal' },
    { ...position, kind: RecordKind.mvccRevision },
    { ...position, index: 43 },
    { ...position, index: 42 + 2 ** 32 },
    { ...position, sub: 1 },
  ];
  for (const other of elsewhere) {
    assert.throws(() => keyring.open(sealed, other), IntegrityError, JSON.stringify(other));
  }
  await keyring.close();
});

test('two swapped pages each fail at the other position; a replayed old page fails at a new index', async (t) => {
  const { keyring } = await keyFileKeyring(await tempDir(t));
  const p1 = { ...position, index: 1 };
  const p2 = { ...position, index: 2 };
  const s1 = keyring.seal(bytes('one'), p1);
  const s2 = keyring.seal(bytes('two'), p2);
  assert.throws(() => keyring.open(s2, p1), IntegrityError);
  assert.throws(() => keyring.open(s1, p2), IntegrityError);
  assert.equal(text(keyring.open(s1, p1)), 'one');
  assert.equal(text(keyring.open(s2, p2)), 'two');
  await keyring.close();
});

test('a truncated page or a page naming an unknown DEK fails with IntegrityError naming the position', async (t) => {
  const { keyring } = await keyFileKeyring(await tempDir(t));
  const sealed = keyring.seal(bytes('value'), position);
  assert.throws(() => keyring.open(sealed.subarray(0, 20), position), /walEntry index 42/);
  const unknownDek = Uint8Array.from(sealed);
  new DataView(unknownDek.buffer).setUint32(1, 99);
  assert.throws(() => keyring.open(unknownDek, position), /DEK 99/);
  await keyring.close();
});

test('a page sealed by another keyring (another member) fails to open', async (t) => {
  const { keyring: a } = await keyFileKeyring(await tempDir(t), 'a.key');
  const { keyring: b } = await keyFileKeyring(await tempDir(t), 'b.key');
  const sealed = a.seal(bytes('value'), position);
  assert.throws(() => b.open(sealed, position), IntegrityError);
  await a.close();
  await b.close();
});
