/**
 * Reads and verifies a backup file. `openBackup` checks the magic line and the header, derives the
 * key and checks it against the header's key check (a wrong passphrase fails here, before any chunk
 * is read); `records()` then decrypts the chunks in order and yields their records.
 *
 * A consumer may act on a record only once `records()` has finished without error: only then is it
 * known that the file was not cut short (the FINAL chunk arrived), that no chunk was altered,
 * dropped or reordered (secretstream), that the header is the one written (it is the FINAL chunk's
 * additional data) and that the record count and integrity hash agree. Every failure is one
 * BackupError: E_BACKUP_TRUNCATED, E_BACKUP_CORRUPT, E_BACKUP_PASSPHRASE or E_BACKUP_FORMAT.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { backupChunkBytesMax, backupHeaderBytes } from '../../config/index.ts';
import { equalConstantTime, sodiumReady, wipe } from '../../crypto/index.ts';
import type { SnapshotRecord } from '../mvcc/index.ts';
import { ByteReader } from './byte-reader.ts';
import { BackupError } from './errors.ts';
import { type BackupHeader, backupMagic, decodeHeader, finalFlag } from './header.ts';
import { type BackupKeyPair, type BackupKeys, deriveBackupKeys, openSealedBackupKeys } from './key.ts';
import { recordFromWire, unpack } from './records.ts';

export interface OpenedBackup {
  readonly header: BackupHeader;
  /** Decrypts and yields every record, verifying the whole file by the time it finishes (may be called again). */
  records(): AsyncGenerator<SnapshotRecord>;
  /** The integrity hash (hex), known once records() has finished without error. */
  integrityHash(): string | undefined;
  /** Wipes the key. */
  close(): void;
}

/** Opens a backup with its passphrase, or — for a backup sealed to a recipient — the recipient's key pair. */
export async function openBackup(file: string, unlock: Uint8Array | BackupKeyPair): Promise<OpenedBackup> {
  const { header, json } = await readStart(file);
  const keys = await backupKeys(file, header, unlock);
  const expected = Buffer.from(header.keyCheck, 'base64');
  const keyOk = keys !== undefined && equalConstantTime(keys.keyCheck, expected);
  wipe(keys?.keyCheck);
  if (!keyOk) {
    wipe(keys?.streamKey);
    throw new BackupError('E_BACKUP_PASSPHRASE', `backup ${file}: wrong backup ${header.kdf.algorithm === 'argon2id' ? 'passphrase' : 'key'}`);
  }
  const streamKey = keys.streamKey;
  let verifiedHash: string | undefined;
  return {
    header,
    integrityHash: () => verifiedHash,
    close: () => wipe(streamKey),
    async *records() {
      verifiedHash = undefined;
      const reader = new ByteReader(createReadStream(file));
      try {
        await reader.read(backupMagic.length + backupHeaderBytes);
        verifiedHash = yield* decryptChunks(reader, file, header, json, streamKey);
      } finally {
        await reader.close();
      }
    },
  };
}

async function backupKeys(file: string, header: BackupHeader, unlock: Uint8Array | BackupKeyPair): Promise<BackupKeys | undefined> {
  const { kdf } = header;
  if (kdf.algorithm === 'argon2id') {
    if (!(unlock instanceof Uint8Array)) throw new BackupError('E_BACKUP_PASSPHRASE', `backup ${file} is encrypted with a passphrase, not to a backup key`);
    return deriveBackupKeys(unlock, Buffer.from(kdf.salt, 'base64'), kdf);
  }
  if (unlock instanceof Uint8Array) throw new BackupError('E_BACKUP_PASSPHRASE', `backup ${file} is sealed to a backup key: give its secret key (--backup-key)`);
  return openSealedBackupKeys(Buffer.from(kdf.sealedKey, 'base64'), unlock);
}

async function readStart(file: string): Promise<{ header: BackupHeader; json: Uint8Array }> {
  const reader = new ByteReader(createReadStream(file));
  try {
    const magic = await reader.read(backupMagic.length);
    const prefixOk = magic !== undefined && magic.every((byte, i) => byte === backupMagic[i]);
    if (!prefixOk) throw new BackupError('E_BACKUP_FORMAT', `${file} is not a Coffer backup`);
    if (magic.length < backupMagic.length) throw truncated(file, 'inside its first line');
    const line = await reader.read(backupHeaderBytes);
    if (line === undefined || line.length < backupHeaderBytes) throw truncated(file, 'inside its header');
    return decodeHeader(line, file);
  } finally {
    await reader.close();
  }
}

async function* decryptChunks(
  reader: ByteReader, file: string, header: BackupHeader, headerJson: Uint8Array, streamKey: Uint8Array,
): AsyncGenerator<SnapshotRecord, string> {
  const sodium = await sodiumReady();
  const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(Buffer.from(header.streamHeader, 'base64'), streamKey);
  const digest = createHash('sha256');
  const corrupt = (what: string) => new BackupError('E_BACKUP_CORRUPT', `backup ${file} is corrupted: ${what}`);
  let records = 0;
  let storeHeader: Extract<SnapshotRecord, { type: 'header' }> | undefined;
  for (let chunk = 1; ; chunk++) {
    const length = await reader.read(4);
    if (length === undefined) throw truncated(file, `after chunk ${chunk - 1}, before its final chunk`);
    if (length.length < 4) throw truncated(file, `inside the length of chunk ${chunk}`);
    const word = new DataView(length.buffer, length.byteOffset, 4).getUint32(0);
    const final = (word & finalFlag) !== 0;
    const size = word & ~finalFlag;
    if (size <= sodium.crypto_secretstream_xchacha20poly1305_ABYTES || size > backupChunkBytesMax) {
      throw corrupt(`chunk ${chunk} claims ${size} bytes`);
    }
    const sealed = await reader.read(size);
    if (sealed === undefined || sealed.length < size) throw truncated(file, `inside chunk ${chunk}`);
    const opened = sodium.crypto_secretstream_xchacha20poly1305_pull(state, sealed, final ? headerJson : null);
    if (opened === false) {
      throw corrupt(final ? `the final chunk (${chunk}) or the header failed to authenticate` : `chunk ${chunk} failed to authenticate`);
    }
    const plain = opened.message;
    const isFinalTag = opened.tag === sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    if (isFinalTag !== final) throw corrupt(`chunk ${chunk} is marked ${final ? '' : 'not '}final but is ${isFinalTag ? '' : 'not '}the last`);
    let decoded: unknown;
    try {
      decoded = unpack(plain);
    } catch {
      wipe(plain);
      throw corrupt(`chunk ${chunk} does not decode`);
    }
    if (final) {
      wipe(plain);
      const [count, hash] = Array.isArray(decoded) ? decoded as unknown[] : [];
      const ours = digest.digest();
      if (count !== records || !(hash instanceof Uint8Array) || !equalConstantTime(hash, ours)) {
        throw corrupt('the record count or integrity hash does not match the chunks');
      }
      if (header.records !== records || storeHeader === undefined || storeHeader.revision !== header.revision
        || storeHeader.appliedIndex !== header.appliedIndex || storeHeader.compactRevision !== header.compactRevision) {
        throw corrupt('the header does not describe the records');
      }
      if (!(await reader.atEnd())) throw corrupt('there are bytes after the final chunk');
      return ours.toString('hex');
    }
    digest.update(plain);
    wipe(plain);
    if (!Array.isArray(decoded) || decoded.length === 0) throw corrupt(`chunk ${chunk} holds no records`);
    for (const item of decoded as unknown[]) {
      const record = recordFromWire(item);
      if (record === undefined) throw corrupt(`chunk ${chunk} holds a malformed record`);
      if ((record.type === 'header') !== (records === 0)) throw corrupt('the store header record is not first');
      if (record.type === 'header') storeHeader = record;
      records++;
      yield record;
    }
  }
}

function truncated(file: string, where: string): BackupError {
  return new BackupError('E_BACKUP_TRUNCATED', `backup ${file} is truncated: it ends ${where}`);
}
