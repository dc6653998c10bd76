/**
 * Writes a backup file from a stream of snapshot records, encrypting as it goes: nothing but
 * ciphertext and the clear-text header ever reaches the disk.
 *
 * The file is built as a hidden temporary sibling (mode 0600, created exclusively): magic line,
 * placeholder header, chunks; then the real header is written over the placeholder (the record count
 * is known only at the end), the file is fsync'd and linked to its name — link, not rename, so an
 * existing backup is never overwritten — and the directory fsync'd. A failure removes the temporary;
 * the target name appears only complete.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { backupChunkBytesTarget } from '../../config/index.ts';
import { type Argon2Params, argon2ParamsDefault, sodiumReady, wipe } from '../../crypto/index.ts';
import { nodeFs } from '../../durable/index.ts';
import type { SnapshotRecord } from '../mvcc/index.ts';
import { BackupError } from './errors.ts';
import { type BackupHeader, backupFormatVersion, backupMagic, encodeHeader, finalFlag, kdfParamsOk, placeholderHeaderLine } from './header.ts';
import { deriveBackupKeys, saltBytes } from './key.ts';
import { pack, recordBytes, recordToWire, wipeRecords } from './records.ts';

export interface WriteBackupOptions {
  file: string;
  passphrase: Uint8Array;
  records: AsyncIterable<SnapshotRecord>;
  sourceClusterId: string;
  /** argon2id parameters (default: 64 MiB, 3 passes, 4 lanes); tests pass lower ones. */
  argon2?: Partial<Argon2Params>;
  now?: () => Date;
  /** Told after every chunk written: records and bytes so far. */
  onProgress?: (progress: { records: number; bytes: number }) => void;
}

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
  const sodium = await sodiumReady();
  const params: Argon2Params = { ...argon2ParamsDefault, ...options.argon2 };
  if (!kdfParamsOk(params)) throw new RangeError(`argon2id parameters ${JSON.stringify(params)} are outside the bounds a backup reader accepts`);
  const salt = randomBytes(saltBytes);
  const createdAt = (options.now?.() ?? new Date()).toISOString();
  const keys = await deriveBackupKeys(options.passphrase, salt, params);
  const { state, header: streamHeader } = sodium.crypto_secretstream_xchacha20poly1305_init_push(keys.streamKey);
  wipe(keys.streamKey);

  const temp = path.join(path.dirname(file), `.${path.basename(file)}.partial-${randomBytes(6).toString('hex')}`);
  const handle = await fs.open(temp, 'wx', 0o600);
  let linked = false;
  try {
    let bytes = 0;
    const write = async (data: Uint8Array) => {
      await handle.write(data, 0, data.length, bytes);
      bytes += data.length;
    };
    await write(backupMagic);
    const headerOffset = bytes;
    await write(placeholderHeaderLine());

    const digest = createHash('sha256');
    const frame = new DataView(new ArrayBuffer(4));
    const writeChunk = async (plain: Uint8Array, tag: number, ad: Uint8Array | null) => {
      const sealed = sodium.crypto_secretstream_xchacha20poly1305_push(state, plain, ad, tag);
      // Bit 31 marks the FINAL chunk, so the reader knows which additional data to check it with.
      frame.setUint32(0, (sealed.length | (ad === null ? 0 : finalFlag)) >>> 0);
      await write(new Uint8Array(frame.buffer.slice(0)));
      await write(sealed);
    };

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
        await writeChunk(plain, sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE, null);
      } finally {
        wipe(plain);
      }
      options.onProgress?.({ records, bytes });
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

    const integrityHash = digest.digest();
    const header: BackupHeader = {
      format: backupFormatVersion,
      createdAt,
      sourceClusterId: options.sourceClusterId,
      revision: storeHeader.revision,
      appliedIndex: storeHeader.appliedIndex,
      compactRevision: storeHeader.compactRevision,
      records,
      kdf: { algorithm: 'argon2id', salt: salt.toString('base64'), ...params },
      keyCheck: Buffer.from(keys.keyCheck).toString('base64'),
      streamHeader: Buffer.from(streamHeader).toString('base64'),
    };
    wipe(keys.keyCheck);
    const { json, line } = encodeHeader(header);
    // The FINAL chunk carries the record count and the integrity hash, and authenticates the header.
    await writeChunk(pack([records, integrityHash]), sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL, json);
    await handle.write(line, 0, line.length, headerOffset);
    await handle.sync();
    await handle.close();
    await fs.link(temp, file).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') throw new BackupError('E_BACKUP_EXISTS', `${file} already exists; a backup is never overwritten`);
      throw error;
    });
    linked = true;
    await fs.unlink(temp);
    await nodeFs.fsyncDir(path.dirname(file));
    return { file, header, integrityHash: integrityHash.toString('hex'), bytes };
  } finally {
    if (!linked) {
      await handle.close().catch(() => undefined);
      await fs.unlink(temp).catch(() => undefined);
    }
  }
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
