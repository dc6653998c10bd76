/**
 * Writes a backup file from a stream of snapshot records, encrypting as it goes: nothing but
 * ciphertext and the clear-text header ever reaches the disk.
 *
 * The file is built as a hidden temporary sibling (mode 0600, created exclusively): magic line,
 * placeholder header, chunks; then the real header is written over the placeholder (the record count
 * is known only at the end), the file is fsync'd and linked to its name — link, not rename, so an
 * existing backup is never overwritten — and the directory fsync'd. A failure removes the temporary;
 * the target name appears only complete.
 *
 * A backup sealed to a recipient is signed by its writer (signature.ts): the chunks are hashed as they
 * are written, and once the header is final the signature part goes after the FINAL chunk.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { backupChunkBytesTarget } from '../../config/index.ts';
import { type Argon2Params, argon2ParamsDefault, sodiumReady, wipe } from '../../crypto/index.ts';
import { nodeFs } from '../../durable/index.ts';
import type { SnapshotRecord } from '../mvcc/index.ts';
import { BackupError } from './errors.ts';
import {
  type BackupHeader, backupFormatVersion, backupMagic, encodeHeader, finalFlag, kdfParamsOk, placeholderHeaderLine, sealedKeyAlgorithm,
} from './header.ts';
import { type BackupKeys, deriveBackupKeys, saltBytes, sealedBackupKeys } from './key.ts';
import { pack, recordBytes, recordToWire, wipeRecords } from './records.ts';
import { type BackupSigner, frontDigest, signaturePart, signaturePartBytes } from './signature.ts';

export type WriteBackupOptions = {
  file: string;
  records: AsyncIterable<SnapshotRecord>;
  sourceClusterId: string;
  /** argon2id parameters (default: 64 MiB, 3 passes, 4 lanes); tests pass lower ones. */
  argon2?: Partial<Argon2Params>;
  now?: () => Date;
  /**
   * Pads the FINAL chunk so the file's size is `remainder` modulo `multiple` (etcdctl takes a Snapshot
   * stream only at a size a bolt file and its SHA-256 would have: api/grpc/snapshot.ts).
   */
  sizeAlignment?: { multiple: number; remainder: number };
  /** Told after every chunk written: records and bytes so far. */
  onProgress?: (progress: { records: number; bytes: number }) => void;
} & (
  | { passphrase: Uint8Array; recipient?: never; signer?: never }
  /**
   * A backup recipient's X25519 public key: the file opens only with its secret key (key.ts); and who
   * writes it, signing it (signature.ts): the sealing alone would not tell a member's backup from one
   * written by anyone holding the public key.
   */
  | { recipient: Uint8Array; signer: BackupSigner; passphrase?: never }
);

export interface BackupSummary {
  file: string;
  header: BackupHeader;
  /** SHA-256 (hex) over every plaintext chunk: the backup's integrity hash. */
  integrityHash: string;
  bytes: number;
}

export async function writeBackup(options: WriteBackupOptions): Promise<BackupSummary> {
  const { file } = options;
  if (await exists(file)) throw new BackupError('E_BACKUP_EXISTS', `${file} already exists; a backup is never overwritten`);
  if (options.recipient !== undefined && (options.signer as BackupSigner | undefined) === undefined) {
    throw new BackupError('E_BACKUP_SIGNATURE', 'a backup sealed to a backup recipient is signed by its writer, and no signer was given');
  }
  const sodium = await sodiumReady();
  const createdAt = (options.now?.() ?? new Date()).toISOString();
  const { keys, kdf } = await backupKeys(options);
  const { state, header: streamHeader } = sodium.crypto_secretstream_xchacha20poly1305_init_push(keys.streamKey);
  wipe(keys.streamKey);

  const temp = path.join(path.dirname(file), `.${path.basename(file)}.partial-${randomBytes(6).toString('hex')}`);
  const handle = await fs.open(temp, 'wx', 0o600);
  let linked = false;
  try {
    const out = new ChunkFile(handle, (plain, tag, ad) => sodium.crypto_secretstream_xchacha20poly1305_push(state, plain, ad, tag));
    await out.write(backupMagic);
    const headerOffset = out.bytes;
    await out.write(placeholderHeaderLine());
    const signer = options.recipient !== undefined ? options.signer : undefined;
    const { storeHeader, records, integrityHash } = await writeRecordChunks(options, out, sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    const header: BackupHeader = {
      format: backupFormatVersion,
      createdAt,
      sourceClusterId: options.sourceClusterId,
      revision: storeHeader.revision,
      appliedIndex: storeHeader.appliedIndex,
      compactRevision: storeHeader.compactRevision,
      records,
      kdf,
      keyCheck: Buffer.from(keys.keyCheck).toString('base64'),
      streamHeader: Buffer.from(streamHeader).toString('base64'),
    };
    wipe(keys.keyCheck);
    const { json, line } = encodeHeader(header);
    // The FINAL chunk carries the record count and the integrity hash, and authenticates the header.
    const after = sodium.crypto_secretstream_xchacha20poly1305_ABYTES + (signer === undefined ? 0 : signaturePartBytes(signer));
    const finalPlain = finalChunk(records, integrityHash, options.sizeAlignment, out.bytes + 4 + after);
    await out.writeChunk(finalPlain, sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL, json);
    await handle.write(line, 0, line.length, headerOffset);
    if (signer !== undefined) {
      const front = frontDigest(Buffer.concat([backupMagic, line]));
      await out.write(signaturePart(signer, front, out.chunksDigest()));
    }
    await linkComplete(handle, temp, file);
    linked = true;
    return { file, header, integrityHash: integrityHash.toString('hex'), bytes: out.bytes };
  } finally {
    if (!linked) {
      await handle.close().catch(() => undefined);
      await fs.unlink(temp).catch(() => undefined);
    }
  }
}

/** The file's keys, and how a reader makes them again (the header's kdf). */
async function backupKeys(options: WriteBackupOptions): Promise<{ keys: BackupKeys; kdf: BackupHeader['kdf'] }> {
  if (options.recipient !== undefined) {
    const { sealedKey, ...keys } = await sealedBackupKeys(options.recipient);
    return { keys, kdf: { algorithm: sealedKeyAlgorithm, sealedKey: Buffer.from(sealedKey).toString('base64') } };
  }
  const params: Argon2Params = { ...argon2ParamsDefault, ...options.argon2 };
  if (!kdfParamsOk(params)) throw new RangeError(`argon2id parameters ${JSON.stringify(params)} are outside the bounds a backup reader accepts`);
  const salt = randomBytes(saltBytes);
  return { keys: await deriveBackupKeys(options.passphrase, salt, params), kdf: { algorithm: 'argon2id', salt: salt.toString('base64'), ...params } };
}

/**
 * The FINAL chunk's plaintext: [record count, integrity hash], and zero padding as a third element when
 * the file must end at a size `alignment` names; `overhead` is the file's size without this plaintext.
 */
function finalChunk(records: number, integrityHash: Buffer, alignment: WriteBackupOptions['sizeAlignment'], overhead: number): Uint8Array {
  if (alignment === undefined) return pack([records, integrityHash]);
  // The packed size grows by one per padding byte (by two where msgpack's length prefix widens), so
  // one of the next multiple + 2 sizes lands on the remainder.
  for (let padding = 0; padding < alignment.multiple + 2; padding++) {
    const plain = pack([records, integrityHash, new Uint8Array(padding)]);
    if ((overhead + plain.length) % alignment.multiple === alignment.remainder) return plain;
  }
  throw new RangeError(`no padding brings a backup to ${alignment.remainder} modulo ${alignment.multiple} bytes`);
}

/**
 * The temporary file being written, front to back: raw bytes, and sealed chunks behind their length
 * word, hashed as written (the signature covers them, signature.ts).
 */
class ChunkFile {
  bytes = 0;
  private readonly frame = new DataView(new ArrayBuffer(4));
  private readonly chunks = createHash('sha256');

  constructor(
    private readonly handle: FileHandle,
    private readonly seal: (plain: Uint8Array, tag: number, ad: Uint8Array | null) => Uint8Array,
  ) {}

  async write(data: Uint8Array): Promise<void> {
    await this.handle.write(data, 0, data.length, this.bytes);
    this.bytes += data.length;
  }

  /** Seals and appends one chunk; `ad` (additional data) is given for the FINAL chunk only. */
  async writeChunk(plain: Uint8Array, tag: number, ad: Uint8Array | null): Promise<void> {
    const sealed = this.seal(plain, tag, ad);
    // Bit 31 marks the FINAL chunk, so the reader knows which additional data to check it with.
    this.frame.setUint32(0, (sealed.length | (ad === null ? 0 : finalFlag)) >>> 0);
    const word = new Uint8Array(this.frame.buffer.slice(0));
    this.chunks.update(word).update(sealed);
    await this.write(word);
    await this.write(sealed);
  }

  /** SHA-256 over every chunk written so far, length words included (once, after the FINAL chunk). */
  chunksDigest(): Buffer {
    return this.chunks.digest();
  }
}

/**
 * Writes the snapshot's records as message chunks of about backupChunkBytesTarget plaintext each,
 * wiping every record once encoded. Returns the store's header record, the record count and the
 * integrity hash: SHA-256 over every chunk's plaintext in order.
 */
async function writeRecordChunks(options: WriteBackupOptions, out: ChunkFile, messageTag: number): Promise<{
  storeHeader: Extract<SnapshotRecord, { type: 'header' }>; records: number; integrityHash: Buffer;
}> {
  const digest = createHash('sha256');
  let storeHeader: Extract<SnapshotRecord, { type: 'header' }> | undefined;
  let records = 0;
  let batch: SnapshotRecord[] = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const plain = pack(batch.map(recordToWire));
    wipeRecords(batch);
    batch = [];
    batchBytes = 0;
    digest.update(plain);
    try {
      await out.writeChunk(plain, messageTag, null);
    } finally {
      wipe(plain);
    }
    options.onProgress?.({ records, bytes: out.bytes });
  };
  for await (const record of options.records) {
    if (storeHeader === undefined) {
      if (record.type !== 'header') throw new BackupError('E_BACKUP_STREAM', 'the snapshot does not start with its header record');
      storeHeader = record;
    } else if (record.type === 'header') {
      throw new BackupError('E_BACKUP_STREAM', 'the snapshot has a second header record');
    }
    batch.push(record);
    batchBytes += recordBytes(record);
    records++;
    if (batchBytes >= backupChunkBytesTarget) await flush();
  }
  if (storeHeader === undefined) throw new BackupError('E_BACKUP_STREAM', 'the snapshot has no records');
  await flush();
  return { storeHeader, records, integrityHash: digest.digest() };
}

/** Makes the complete temporary durable and links it to its name (never over an existing file). */
async function linkComplete(handle: FileHandle, temp: string, file: string): Promise<void> {
  await handle.sync();
  await handle.close();
  await fs.link(temp, file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') throw new BackupError('E_BACKUP_EXISTS', `${file} already exists; a backup is never overwritten`);
    throw error;
  });
  await fs.unlink(temp);
  await nodeFs.fsyncDir(path.dirname(file));
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
