/**
 * KEK rotation through the member's key rotation (the code behind POST /apis/coffer.dev/v1/keys/rotate-kek):
 * after it, the keyring reopens (as at a restart) with the new passphrase or key file and refuses the
 * old one with SealedError, and the store's pages still open.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { realClock } from '../../../src/base/index.ts';
import { type KekProvider, keyFileKek, openKeyring, passphraseKek, SealedError } from '../../../src/crypto/index.ts';
import { MvccStore } from '../../../src/storage/mvcc/index.ts';
import { MemberKeys } from '../../../src/storage/barrier/index.ts';

const encoder = new TextEncoder();
const log = { info: () => undefined, warn: () => undefined };
// Small argon2id parameters would be faster, but the rotation must use exactly what unsealing uses: defaults.

async function withMember(kek: KekProvider, work: (ctx: { dataDir: string; keys: MemberKeys }) => Promise<void>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'coffer-kek-rotation-'));
  const dataDir = path.join(root, 'data');
  const keyring = await openKeyring({ dir: dataDir, kek });
  const store = await MvccStore.open({ dir: path.join(dataDir, 'mvcc'), sealer: keyring, storeId: 'm1/mvcc' });
  await store.put(encoder.encode('/registry/secrets/default/a'), encoder.encode('value-a'));
  const keys = new MemberKeys({ member: 'm1', dataDir, keyring, store: () => store, clock: realClock, log });
  try {
    await work({ dataDir, keys });
  } finally {
    await keys.close();
    await store.close();
    await keyring.close();
  }
  return root;
}

async function reopens(dataDir: string, kek: KekProvider): Promise<void> {
  const keyring = await openKeyring({ dir: dataDir, kek, createIfMissing: false });
  try {
    const store = await MvccStore.open({ dir: path.join(dataDir, 'mvcc'), sealer: keyring, storeId: 'm1/mvcc' });
    const got = await store.range(encoder.encode('/registry/secrets/default/a'));
    assert.equal(new TextDecoder().decode(got.kvs[0]!.value), 'value-a');
    await store.close();
  } finally {
    await keyring.close();
  }
}

test('after a KEK rotation to a new passphrase, a restart opens with the new passphrase and fails with the old', { timeout: 60_000 }, async () => {
  let dataDir = '';
  const root = await withMember(passphraseKek('old passphrase'), async (ctx) => {
    dataDir = ctx.dataDir;
    const passphrase = new Uint8Array(Buffer.from('new passphrase, much longer'));
    const { kek } = await ctx.keys.rotateKek({ passphrase });
    assert.equal(kek.source, 'passphrase');
    const status = await ctx.keys.status();
    assert.equal(status.kek.source, 'passphrase');
  });
  try {
    await reopens(dataDir, passphraseKek('new passphrase, much longer'));
    await assert.rejects(openKeyring({ dir: dataDir, kek: passphraseKek('old passphrase'), createIfMissing: false }), SealedError);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('after a KEK rotation from a passphrase to a key file, a restart opens with the key file and not with the passphrase', { timeout: 60_000 }, async () => {
  let dataDir = '';
  const key = Buffer.alloc(32, 0x5a).toString('base64');
  const root = await withMember(passphraseKek('old passphrase'), async (ctx) => {
    dataDir = ctx.dataDir;
    const { kek } = await ctx.keys.rotateKek({ unsealKey: new Uint8Array(Buffer.from(`${key}\n`)) });
    assert.equal(kek.source, 'keyFile');
  });
  try {
    const keyFile = path.join(root, 'new.key');
    await writeFile(keyFile, `${key}\n`, { mode: 0o600 });
    await chmod(keyFile, 0o600);
    await reopens(dataDir, await keyFileKek(keyFile));
    await assert.rejects(openKeyring({ dir: dataDir, kek: passphraseKek('old passphrase'), createIfMissing: false }), SealedError);
    assert.ok(!(await readFile(path.join(dataDir, 'keyring.json'), 'utf8')).includes(key), 'the key is not in the keyring file');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a KEK rotation with a malformed key changes nothing: the old KEK still opens the keyring', { timeout: 60_000 }, async () => {
  let dataDir = '';
  const root = await withMember(passphraseKek('old passphrase'), async (ctx) => {
    dataDir = ctx.dataDir;
    await assert.rejects(ctx.keys.rotateKek({ unsealKey: new Uint8Array(5) }), (error: Error & { code?: string }) => error.code === 'E_KEY_FILE' && /5 bytes/.test(error.message));
  });
  try {
    await reopens(dataDir, passphraseKek('old passphrase'));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
