// Shared fixtures for the backup tests: synthetic snapshot records, fast argon2id parameters, a CA whose
// members sign backups, and a backup sealed to a recipient as format 1 wrote it (unsigned).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { sodiumReady } from '../../../src/crypto/index.ts';
import { bootstrapCa, caLayout, type CaLayout } from '../../../src/pki/index.ts';
import { BackupError, backupMagic, backupSigner, type BackupSigner } from '../../../src/storage/backup/index.ts';
import { encodeHeader, finalFlag, sealedKeyAlgorithm } from '../../../src/storage/backup/header.ts';
import { sealedBackupKeys } from '../../../src/storage/backup/key.ts';
import { pack, recordToWire } from '../../../src/storage/backup/records.ts';
import type { SnapshotRecord } from '../../../src/storage/mvcc/index.ts';

/** The smallest argon2id cost a backup header may record; only tests use it. */
export const fastArgon2 = { memoryKiB: 1024, timeCost: 1, parallelism: 1 };

export const marker = 'BACKUP-PLAINTEXT-MARKER-7f3a';

/** A header and `pages` pages; page i holds key `key-i` and a value of `valueBytes` bytes (the marker first). */
export function sampleRecords(pages: number, valueBytes = 32): SnapshotRecord[] {
  const records: SnapshotRecord[] = [{ type: 'header', appliedIndex: 40 + pages, revision: pages + 1, compactRevision: 0 }];
  for (let i = 0; i < pages; i++) {
    const value = new Uint8Array(Math.max(valueBytes, marker.length)).fill(0x61 + (i % 26));
    value.set(new TextEncoder().encode(marker));
    records.push({
      type: 'page',
      page: {
        key: new TextEncoder().encode(`key-${i}`), value, main: i + 2, sub: 0, createRevision: i + 2, version: 1,
        // The last key is on a lease, whose record ends the store's records (as exportSnapshot orders them).
        tombstone: false, prevMain: 0, prevSub: 0, lease: i === pages - 1 ? 1 : 0,
      },
    });
  }
  if (pages > 0) records.push({ type: 'lease', lease: { id: 1, ttl: 60, remainingTtlMs: 30_000, refreshes: 2, owner: 'alice' } });
  return records;
}

/** Deep copies, because writers wipe the records they have encoded. */
export function copyRecords(records: readonly SnapshotRecord[]): SnapshotRecord[] {
  return records.map((r) => {
    switch (r.type) {
      case 'header': return { ...r };
      case 'lease': return { type: 'lease', lease: { ...r.lease } };
      case 'page': return { type: 'page', page: { ...r.page, key: r.page.key.slice(), value: r.page.value.slice() } };
    }
  });
}

/** The BackupError `work` fails with, one line; fails the test if it succeeds. */
export async function refusal(work: () => Promise<unknown>): Promise<BackupError> {
  try {
    await work();
  } catch (error) {
    assert.ok(error instanceof BackupError, `expected a BackupError, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n/);
    return error;
  }
  assert.fail('the backup was accepted');
}

export async function* iterate<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) yield await Promise.resolve(item);
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** A CA in `dir`, laid out as bootstrap-ca lays out certs/: member certificates for `members` and the admin client. */
export async function makeCa(dir: string, members: readonly string[] = ['m1']): Promise<CaLayout> {
  await bootstrapCa({ dir, members, hosts: ['127.0.0.1'], admin: 'admin' });
  return caLayout(dir);
}

/** A backup signer from a certificate and key file (a member's — or any other, as a forger would). */
export async function signerFrom(certFile: string, keyFile: string): Promise<BackupSigner> {
  return backupSigner(await readFile(certFile, 'utf8'), await readFile(keyFile, 'utf8'));
}

/**
 * A backup sealed to `recipient` as format 1 wrote it: no signature, so nothing tells it from one
 * written by anyone holding the public key — here, by the test, with no member key at all. With
 * `format` 2 it is what a forger writes to pass for a signed backup (a signature part still missing).
 */
export async function writeUnsignedSealedBackup(
  file: string, recipient: Uint8Array, records: readonly SnapshotRecord[], sourceClusterId = 'cafe0123', format: 1 | 2 = 1,
): Promise<void> {
  const sodium = await sodiumReady();
  const { sealedKey, streamKey, keyCheck } = await sealedBackupKeys(recipient);
  const { state, header: streamHeader } = sodium.crypto_secretstream_xchacha20poly1305_init_push(streamKey);
  const first = records[0];
  if (first?.type !== 'header') throw new TypeError('the records start with the store header');
  const { json, line } = encodeHeader({
    format, createdAt: new Date().toISOString(), sourceClusterId, revision: first.revision, appliedIndex: first.appliedIndex,
    compactRevision: first.compactRevision, records: records.length, kdf: { algorithm: sealedKeyAlgorithm, sealedKey: Buffer.from(sealedKey).toString('base64') },
    keyCheck: Buffer.from(keyCheck).toString('base64'), streamHeader: Buffer.from(streamHeader).toString('base64'),
  });
  const plain = pack(records.map(recordToWire));
  const chunk = (message: Uint8Array, tag: number, ad: Uint8Array | null) => {
    const sealed = sodium.crypto_secretstream_xchacha20poly1305_push(state, message, ad, tag);
    const word = Buffer.alloc(4);
    word.writeUInt32BE((sealed.length | (ad === null ? 0 : finalFlag)) >>> 0);
    return [word, sealed];
  };
  await writeFile(file, Buffer.concat([
    backupMagic, line,
    ...chunk(plain, sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE, null),
    ...chunk(pack([records.length, createHash('sha256').update(plain).digest()]), sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL, json),
  ]), { mode: 0o600 });
}

/** Where a backup's signature part starts: after its FINAL chunk. */
export function signatureAt(whole: Buffer): number {
  let at = 14 + 4096;
  for (;;) {
    const word = whole.readUInt32BE(at);
    at += 4 + (word & 0x7fff_ffff);
    if ((word & 0x8000_0000) !== 0) return at;
  }
}
