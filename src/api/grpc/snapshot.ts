/**
 * etcd's Maintenance.Snapshot, served as a Coffer backup sealed to the member's backup recipient
 * (`coffer server --backup-recipient FILE.pub`, the public half of `coffer snapshot keygen FILE`):
 * the same encrypted, integrity-checked file `coffer snapshot save` writes, but its key is random and
 * sealed to the recipient's X25519 public key (storage/backup/key.ts), so the member never holds
 * anything that decrypts it — the property `coffer snapshot save` has, where the passphrase never
 * leaves the operator's machine. `coffer snapshot restore FILE --backup-key FILE` opens it; `etcdctl
 * snapshot status` cannot (it is not a bolt database), and etcdctl's own restore refuses it.
 *
 * The sealing is anonymous — anyone holding the public key can seal a file to it — so the member signs
 * the backup with its TLS identity (its member certificate and key, as loaded at the call: a rotated
 * certificate signs from the next call on), and restore refuses a backup not signed by a member
 * certificate of the cluster's CA (storage/backup/signature.ts, server/restore.ts). Without a signer
 * the call is refused: an unsigned backup would be refused at restore.
 *
 * Without --backup-recipient the call is refused (FailedPrecondition) saying how to enable it.
 * Callers: the gate's RBAC over the path, then — as the coffer.dev snapshot route — `system:masters`
 * only, since the backup holds every Secret. Audited as a write (recorded before it runs).
 *
 * How: a ReadIndex barrier (the backup holds every write committed before the call), the store's
 * point-in-time export written as the sealed backup to a file under the member's data dir (nothing in
 * it readable without the recipient's secret key; the dir is emptied at every start), then streamed in
 * SnapshotResponse blobs of grpcSnapshotChunkBytes with the bytes still to come, and removed. Nothing
 * holds the whole backup in memory. etcdctl 3.4 keeps a stream only if its size is 32 modulo 512 (a
 * bolt file and its SHA-256), so the backup's final chunk is padded to such a size.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { grpcSnapshotChunkBytes } from '../../config/index.ts';
import { encode, frame, messageType } from '../../etcdpb/index.ts';
import type { BackupSigner } from '../../storage/backup/index.ts';
import type { KvService } from '../kv/service.ts';
import { headerToProto } from './kv-codec.ts';
import { GrpcStatusError, grpcStatus, sendGrpcStream } from './status.ts';

export interface GrpcSnapshotOptions {
  /** The backup recipient's X25519 public key. */
  recipient: Uint8Array;
  /** This member's TLS identity, signing each backup (read at each call). */
  signer?: () => BackupSigner;
  /** Where the backup is written before it is streamed (a dir under the member's data dir). */
  scratchDir: string;
}

/** What etcdctl's Save checks of a snapshot's size (hasChecksum): a multiple of 512 bytes plus a SHA-256. */
const etcdSnapshotSize = { multiple: 512, remainder: 32 };

const snapshotResponse = messageType('SnapshotResponse');

export const snapshotRefusal = 'Snapshot is served only as a backup sealed to a backup key, and this member has none: '
  + 'coffer snapshot keygen FILE, then start members with --backup-recipient FILE.pub (or use coffer snapshot save with a passphrase)';

export async function serveSnapshot(request: FastifyRequest, reply: FastifyReply, service: KvService, options: GrpcSnapshotOptions | undefined): Promise<FastifyReply> {
  // Who may ask was decided by the gate (route config mastersOnly): a caller without the right learns
  // nothing of the member's configuration.
  if (options === undefined) throw new GrpcStatusError(grpcStatus.failedPrecondition, snapshotRefusal);
  if (options.signer === undefined) throw new GrpcStatusError(grpcStatus.failedPrecondition, unsignedRefusal);
  const signer = options.signer();
  const dir = await mkdtemp(join(options.scratchDir, 'snapshot-'));
  try {
    const file = join(dir, 'backup.cbk');
    const written = await service.sealedBackup({ file, recipient: options.recipient, signer, sizeAlignment: etcdSnapshotSize });
    request.log.info({ revision: written.header.revision, bytes: written.bytes }, 'sealed snapshot stream started');
    // Removed once the call is over, sent or cut short (a file being read stays readable once unlinked).
    reply.raw.once('close', () => void rm(dir, { recursive: true, force: true }));
    return sendGrpcStream(request, reply, Readable.from(blobs(file, (await stat(file)).size, service)));
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

const unsignedRefusal = 'Snapshot is served only as a backup signed by the member that writes it, and this member has no certificate to sign with';

/** The backup file as framed SnapshotResponses, each saying how many bytes are still to come. */
async function* blobs(file: string, size: number, service: KvService): AsyncGenerator<Buffer> {
  let remaining = size;
  for await (const chunk of createReadStream(file, { highWaterMark: grpcSnapshotChunkBytes }) as AsyncIterable<Buffer>) {
    remaining -= chunk.length;
    yield frame(encode(snapshotResponse, { header: headerToProto(service.header()), remaining_bytes: remaining, blob: chunk }));
  }
}
