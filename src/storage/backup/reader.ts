/**
 * Reads and verifies a backup file. `openBackup` checks the magic line and the header, derives the
 * key and checks it against the header's key check (a wrong passphrase fails here, before any chunk
 * is read); `records()` then decrypts the chunks in order and yields their records.
 *
 * A consumer may act on a record only once `records()` has finished without error: only then is it
 * known that the file was not cut short (the FINAL chunk arrived), that no chunk was altered,
 * dropped or reordered (secretstream), that the header is the one written (it is the FINAL chunk's
 * additional data) and that the record count and integrity hash agree — and, for a backup sealed to a
 * recipient, that the signature part verifies over every byte before it and its signer is trusted
 * (signature.ts; the caller's verifySigner decides whom to trust). Every failure is one BackupError:
 * E_BACKUP_TRUNCATED, E_BACKUP_CORRUPT, E_BACKUP_PASSPHRASE, E_BACKUP_FORMAT, E_BACKUP_UNSIGNED or
 * E_BACKUP_SIGNATURE.
 *
 * A backup sealed to a recipient with no signature (format 1, written before backups were signed) is
 * refused at open unless the caller allows unsigned backups: nothing tells it from one written by
 * anyone holding the recipient's public key.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { backupChunkBytesMax, backupHeaderBytes, backupSignaturePartBytesMax } from '../../config/index.ts';
import { equalConstantTime, sodiumReady, wipe } from '../../crypto/index.ts';
import type { SnapshotRecord } from '../mvcc/index.ts';
import { ByteReader } from './byte-reader.ts';
import { BackupError } from './errors.ts';
import { type BackupHeader, backupMagic, decodeHeader, finalFlag, isSealed, isSigned } from './header.ts';
import { type BackupKeyPair, type BackupKeys, deriveBackupKeys, openSealedBackupKeys } from './key.ts';
import { recordFromWire, unpack } from './records.ts';
import { frontDigest, type VerifySigner, verifySignaturePart } from './signature.ts';

export interface OpenBackupOptions {
  /** Whom to trust as the signer of a signed backup; without it records() refuses a signed backup. */
  verifySigner?: VerifySigner;
  /** Opens a backup sealed to a recipient that carries no signature (format 1); refused otherwise. */
  allowUnsigned?: boolean;
}

export interface OpenedBackup {
  readonly header: BackupHeader;
  /** Whether the file carries a signature that records() verifies (sealed to a recipient, format 2 or later). */
  readonly signed: boolean;
  /** Decrypts and yields every record, verifying the whole file by the time it finishes (may be called again). */
  records(): AsyncGenerator<SnapshotRecord>;
  /** The integrity hash (hex), known once records() has finished without error. */
  integrityHash(): string | undefined;
  /** Who signed it, as verifySigner named them, once records() has finished without error; undefined for an unsigned backup. */
  signedBy(): string | undefined;
  /** Wipes the key. */
  close(): void;
}

/** Opens a backup with its passphrase, or — for a backup sealed to a recipient — the recipient's key pair. */
export async function openBackup(file: string, unlock: Uint8Array | BackupKeyPair, options: OpenBackupOptions = {}): Promise<OpenedBackup> {
  const { header, json } = await readStart(file);
  const signed = isSigned(header);
  if (isSealed(header) && !signed && options.allowUnsigned !== true) {
    throw new BackupError('E_BACKUP_UNSIGNED', `backup ${file} is sealed to a backup key but not signed (format ${header.format}, `
      + 'written before backups were signed), so anyone holding the public key could have written it; '
      + 'restore it only if you know where it came from, with --allow-unsigned-backup');
  }
  const { verifySigner = trustNoSigner } = options;
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
  let verifiedSigner: string | undefined;
  return {
    header,
    signed,
    integrityHash: () => verifiedHash,
    signedBy: () => verifiedSigner,
    close: () => wipe(streamKey),
    async *records() {
      verifiedHash = undefined;
      verifiedSigner = undefined;
      const reader = new ByteReader(createReadStream(file));
      try {
        const front = await reader.read(backupMagic.length + backupHeaderBytes) ?? new Uint8Array(0);
        const verified = yield* decryptChunks(reader, file, header, json, streamKey);
        if (signed) verifiedSigner = await checkSignature(reader, file, header, { front: frontDigest(front), chunks: verified.chunksDigest }, verifySigner);
        if (!(await reader.atEnd())) throw corruptError(file, `there are bytes after the ${signed ? 'signature' : 'final chunk'}`);
        verifiedHash = verified.integrityHash;
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

/**
 * The signature part after the FINAL chunk: verified over the file's front and chunks, then its
 * certificate given to verifySigner. Returns who signed.
 */
async function checkSignature(
  reader: ByteReader, file: string, header: BackupHeader, digests: { front: Uint8Array; chunks: Uint8Array }, verifySigner: VerifySigner,
): Promise<string> {
  const length = await reader.read(4);
  if (length === undefined) throw truncated(file, 'after its final chunk, before its signature');
  if (length.length < 4) throw truncated(file, 'inside the length of its signature');
  const size = new DataView(length.buffer, length.byteOffset, 4).getUint32(0);
  if (size === 0 || size > backupSignaturePartBytesMax) throw corruptError(file, `its signature part claims ${size} bytes`);
  const body = await reader.read(size);
  if (body === undefined || body.length < size) throw truncated(file, 'inside its signature');
  const certificate = verifySignaturePart(body, digests.front, digests.chunks, file);
  try {
    return await verifySigner(certificate, new Date(header.createdAt));
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError('E_BACKUP_SIGNATURE', `backup ${file} is refused: its signer is not trusted: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

async function* decryptChunks(
  reader: ByteReader, file: string, header: BackupHeader, headerJson: Uint8Array, streamKey: Uint8Array,
): AsyncGenerator<SnapshotRecord, { integrityHash: string; chunksDigest: Buffer }> {
  const sodium = await sodiumReady();
  const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(Buffer.from(header.streamHeader, 'base64'), streamKey);
  const digest = createHash('sha256');
  /** Over every chunk as it is in the file (length word and ciphertext), for the signature. */
  const chunks = createHash('sha256');
  const corrupt = (what: string) => corruptError(file, what);
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
    chunks.update(length).update(sealed);
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
      return { integrityHash: ours.toString('hex'), chunksDigest: chunks.digest() };
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

/** The signer check of a caller that named no one to trust: fails closed. */
function trustNoSigner(): never {
  throw new Error('nothing was given to check it against');
}

function corruptError(file: string, what: string): BackupError {
  return new BackupError('E_BACKUP_CORRUPT', `backup ${file} is corrupted: ${what}`);
}

function truncated(file: string, where: string): BackupError {
  return new BackupError('E_BACKUP_TRUNCATED', `backup ${file} is truncated: it ends ${where}`);
}
