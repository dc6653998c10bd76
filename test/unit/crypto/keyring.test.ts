import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  createKeyFile, IntegrityError, type Kek, type KekProvider, keyFileKek, KeyringError, keyringFileName, openKeyring, passphraseKek, RecordKind,
  SealedError,
} from '../../../src/crypto/index.ts';
import { fastArgon2, keyFileKeyring, tempDir } from './helpers.ts';

const position = { storeId: 's', kind: RecordKind.mvccRevision, index: 7, sub: 0 };
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Every file in a dir with its bytes and mtime, to prove nothing was written. */
async function fingerprint(dir: string): Promise<string> {
  const names = (await readdir(dir)).sort();
  const parts = await Promise.all(names.map(async (name) => {
    const file = path.join(dir, name);
    return `${name}:${(await stat(file)).mtimeMs}:${(await readFile(file)).toString('base64')}`;
  }));
  return parts.join('|');
}

test('a wrong key file gives one "cannot unseal" SealedError and writes nothing', async (t) => {
  const dir = await tempDir(t);
  const { keyring } = await keyFileKeyring(dir, 'right.key');
  await keyring.close();
  const wrongKey = path.join(dir, 'wrong.key');
  await createKeyFile(wrongKey);
  const data = path.join(dir, 'data');
  const before = await fingerprint(data);
  await assert.rejects(openKeyring({ dir: data, kek: await keyFileKek(wrongKey) }), (error: unknown) => {
    assert.ok(error instanceof SealedError);
    assert.equal(error.code, 'E_SEALED');
    assert.match(error.message, /^cannot unseal: /);
    return true;
  });
  assert.equal(await fingerprint(data), before);
});

test('a wrong passphrase gives one "cannot unseal" SealedError and writes nothing', async (t) => {
  const dir = await tempDir(t);
  const keyring = await openKeyring({ dir, kek: passphraseKek('correct horse', fastArgon2) });
  await keyring.close();
  const before = await fingerprint(dir);
  await assert.rejects(openKeyring({ dir, kek: passphraseKek('battery staple', fastArgon2) }), /^SealedError: cannot unseal: /);
  assert.equal(await fingerprint(dir), before);
});

test('a KEK of another kind than the keyring records is refused as "cannot unseal"', async (t) => {
  const dir = await tempDir(t);
  const { keyring } = await keyFileKeyring(dir);
  await keyring.close();
  await assert.rejects(openKeyring({ dir: path.join(dir, 'data'), kek: passphraseKek('x', fastArgon2) }),
    /cannot unseal: the keyring is sealed by a key file, but a passphrase was given/);
});

test('a missing keyring with createIfMissing false stays sealed and creates nothing', async (t) => {
  const dir = await tempDir(t);
  const keyFile = path.join(dir, 'k.key');
  await createKeyFile(keyFile);
  await assert.rejects(openKeyring({ dir: path.join(dir, 'data'), kek: await keyFileKek(keyFile), createIfMissing: false }), SealedError);
  assert.deepEqual(await readdir(dir), ['k.key']);
});

test('old pages stay readable after a DEK rotation; new pages use the new DEK, also after reopening', async (t) => {
  const dir = await tempDir(t);
  const { keyring, keyFile } = await keyFileKeyring(dir);
  const old = keyring.seal(bytes('old value'), position);
  assert.equal(keyring.dekIdOf(old), 1);
  assert.equal(await keyring.rotateDek(), 2);
  const fresh = keyring.seal(bytes('new value'), { ...position, index: 8 });
  assert.equal(keyring.dekIdOf(fresh), 2);
  assert.equal(text(keyring.open(old, position)), 'old value');
  await keyring.close();

  const reopened = await openKeyring({ dir: path.join(dir, 'data'), kek: await keyFileKek(keyFile) });
  assert.equal(reopened.activeDekId(), 2);
  assert.equal(text(reopened.open(old, position)), 'old value');
  assert.equal(text(reopened.open(fresh, { ...position, index: 8 })), 'new value');
  const status = reopened.status();
  assert.deepEqual(status.deks.map((d) => [d.id, d.pagesSealed, d.active]), [[1, 1, false], [2, 1, true]]);
  assert.equal(status.kekSource, 'keyFile');
  await reopened.close();
});

test('a tampered keyring file is detected (IntegrityError), even a change to a counter', async (t) => {
  const dir = await tempDir(t);
  const { keyring, keyFile } = await keyFileKeyring(dir);
  keyring.seal(bytes('v'), position);
  await keyring.close();
  const file = path.join(dir, 'data', keyringFileName);
  const outer = JSON.parse(await readFile(file, 'utf8')) as { body: string };
  const body = JSON.parse(outer.body) as { deks: { pagesSealed: number }[]; activeDekId: number };
  body.deks[0]!.pagesSealed = 1000;
  outer.body = JSON.stringify(body);
  await writeFile(file, JSON.stringify(outer));
  await assert.rejects(openKeyring({ dir: path.join(dir, 'data'), kek: await keyFileKek(keyFile) }), (error: unknown) => {
    assert.ok(error instanceof IntegrityError);
    assert.match(error.message, /failed authentication/);
    return true;
  });
});

test('a keyring file with its MAC altered is detected', async (t) => {
  const dir = await tempDir(t);
  const { keyring, keyFile } = await keyFileKeyring(dir);
  await keyring.close();
  const file = path.join(dir, 'data', keyringFileName);
  const outer = JSON.parse(await readFile(file, 'utf8')) as { mac: string };
  const mac = Buffer.from(outer.mac, 'base64');
  mac[0]! ^= 1;
  outer.mac = mac.toString('base64');
  await writeFile(file, JSON.stringify(outer));
  await assert.rejects(openKeyring({ dir: path.join(dir, 'data'), kek: await keyFileKek(keyFile) }), IntegrityError);
});

test('a KEK rotation rewraps: the new key opens the keyring and old pages, the old key no longer does', async (t) => {
  const dir = await tempDir(t);
  const { keyring, keyFile } = await keyFileKeyring(dir);
  const page = keyring.seal(bytes('kept'), position);
  await keyring.rotateDek();
  await keyring.rotateKek(passphraseKek('new passphrase', fastArgon2));
  assert.equal(keyring.status().kekSource, 'passphrase');
  await keyring.close();
  const data = path.join(dir, 'data');
  await assert.rejects(openKeyring({ dir: data, kek: await keyFileKek(keyFile) }), SealedError);
  const reopened = await openKeyring({ dir: data, kek: passphraseKek('new passphrase') });
  assert.equal(text(reopened.open(page, position)), 'kept');
  assert.equal(reopened.activeDekId(), 2);
  await reopened.close();
});

test('a closed keyring is sealed: seal and open refuse', async (t) => {
  const { keyring } = await keyFileKeyring(await tempDir(t));
  const page = keyring.seal(bytes('v'), position);
  await keyring.close();
  assert.throws(() => keyring.seal(bytes('v'), position), SealedError);
  assert.throws(() => keyring.open(page, position), SealedError);
});

test('the keyring file holds no DEK or KEK in the clear', async (t) => {
  const dir = await tempDir(t);
  const { keyring, keyFile } = await keyFileKeyring(dir);
  await keyring.close();
  const content = await readFile(path.join(dir, 'data', keyringFileName));
  const kek = await readFile(keyFile);
  for (const form of [kek, Buffer.from(kek.toString('base64')), Buffer.from(kek.toString('hex'))]) {
    assert.equal(content.indexOf(form), -1);
  }
});

/**
 * A KEK provider around a key file's whose wraps can be made wrong, as a buggy or hostile KMS plugin
 * answers: 'garbled' gives bytes that do not unwrap, 'other-key' a valid wrapping of other bytes. Only
 * wraps for `purposes` are spoiled (the purpose is the byte before the DEK id that ends the additional data).
 */
function spoilingKek(inner: KekProvider, purposes: readonly ('auth' | 'dek')[]): KekProvider & { spoil?: 'garbled' | 'other-key' } {
  const provider: KekProvider & { spoil?: 'garbled' | 'other-key' } = {
    source: inner.source,
    description: 'spoiling test KEK',
    create: async () => spoiled(await inner.create()),
    open: async (record) => spoiled(await inner.open(record)),
  };
  const spoiled = (kek: Kek): Kek => ({
    get record() { return kek.record; },
    unwrap: (wrapped, additional) => kek.unwrap(wrapped, additional),
    wipe: () => kek.wipe(),
    async wrap(key, additional) {
      const purpose = additional[additional.length - 5] === 0 ? 'auth' : 'dek';
      if (provider.spoil === undefined || !purposes.includes(purpose)) return kek.wrap(key, additional);
      if (provider.spoil === 'other-key') return kek.wrap(new Uint8Array(key.length), additional);
      const wrapped = await kek.wrap(key, additional);
      wrapped[wrapped.length - 1]! ^= 1;
      return wrapped;
    },
  });
  return provider;
}

for (const spoil of ['garbled', 'other-key'] as const) {
  test(`a new keyring whose KEK wraps a key into what does not unwrap to it (${spoil}) is refused, naming the KEK and the key, and nothing is written`, async (t) => {
    const dir = await tempDir(t);
    const keyFile = path.join(dir, 'k.key');
    await createKeyFile(keyFile);
    for (const [purposes, what] of [[['dek'], /DEK 1/], [['auth'], /the authentication key/]] as const) {
      const kek = spoilingKek(await keyFileKek(keyFile), purposes);
      kek.spoil = spoil;
      const data = path.join(dir, `data-${purposes[0]}`);
      await assert.rejects(openKeyring({ dir: data, kek }), (error: unknown) => {
        assert.ok(error instanceof KeyringError, String(error));
        assert.match(error.message, /^spoiling test KEK did not round-trip /);
        assert.match(error.message, what);
        return true;
      });
      assert.deepEqual(await readdir(data).catch(() => []), [], 'no keyring file');
    }
  });

  test(`a DEK rotation or KEK rotation whose KEK wraps a key into what does not unwrap to it (${spoil}) changes nothing`, async (t) => {
    const dir = await tempDir(t);
    const keyFile = path.join(dir, 'k.key');
    await createKeyFile(keyFile);
    const data = path.join(dir, 'data');
    const kek = spoilingKek(await keyFileKek(keyFile), ['auth', 'dek']);
    const keyring = await openKeyring({ dir: data, kek });
    const page = keyring.seal(bytes('kept'), position);
    const before = await fingerprint(data);
    kek.spoil = spoil;
    await assert.rejects(keyring.rotateDek(), /^KeyringError: spoiling test KEK did not round-trip DEK 2/);
    assert.equal(keyring.activeDekId(), 1);
    assert.deepEqual(keyring.status().deks.map((d) => d.id), [1]);
    const next = spoilingKek(passphraseKek('a new passphrase', fastArgon2), ['auth']);
    next.spoil = spoil;
    await assert.rejects(keyring.rotateKek(next), /^KeyringError: spoiling test KEK did not round-trip the authentication key/);
    assert.equal(await fingerprint(data), before);
    assert.equal(keyring.status().kekSource, 'keyFile');
    kek.spoil = undefined;
    assert.equal(await keyring.rotateDek(), 2, 'the next good rotation takes the id the refused one did not');
    await keyring.close();
    const reopened = await openKeyring({ dir: data, kek: await keyFileKek(keyFile) });
    assert.equal(text(reopened.open(page, position)), 'kept');
    assert.equal(reopened.activeDekId(), 2);
    await reopened.close();
  });
}
