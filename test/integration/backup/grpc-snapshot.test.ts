// etcd's Maintenance.Snapshot through app.inject() over a real single-member replica, as etcdctl snapshot
// save calls it on a member started with --backup-recipient: the streamed file is a backup sealed to the
// recipient and signed by the member's certificate, at a size etcdctl keeps (32 modulo 512), and
// `coffer snapshot restore` takes it against the cluster's CA — and refuses it against another's. A
// member given no certificate to sign with refuses the call.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildClientApi, type GrpcSnapshotOptions } from '../../../src/api/index.ts';
import { createKeyFile, keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import { decode, FrameReader, frame, messageType } from '../../../src/etcdpb/index.ts';
import type { CaLayout } from '../../../src/pki/index.ts';
import { backupSigner, createBackupKeyFiles, readBackupRecipient } from '../../../src/storage/backup/index.ts';
import { MvccStore } from '../../../src/storage/mvcc/index.ts';
import { restoreBackup } from '../../../src/server/restore.ts';
import { makeCa } from '../../unit/backup/helpers.ts';
import { backendOf, InProcessCluster } from '../replication/harness.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const admin = { user: 'admin', groups: ['system:masters'], kind: 'client' as const };

let dir: string;
/** The cluster's CA, whose member m1 is the member serving the call. */
let ca: CaLayout;
let cluster: InProcessCluster;
const apps: FastifyInstance[] = [];
/** The operator's backup key: the member gets only its public half. */
const secretKeyFile = () => join(dir, 'backup.key');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-grpc-snapshot-'));
  ca = await makeCa(join(dir, 'certs'), ['m1']);
  await createBackupKeyFiles(secretKeyFile());
  cluster = await InProcessCluster.start(1);
  await cluster.leader();
  await cluster.replica(1).propose({ type: 'put', key: enc('/registry/secrets/ns/db'), value: enc('grpc-snapshot-value-3e1') });
});

after(async () => {
  for (const app of apps) await app.close();
  await cluster.close();
  await rm(dir, { recursive: true, force: true });
});

/** The member's client API with etcd's Snapshot served as `coffer server --backup-recipient` serves it. */
async function memberApi(signs: boolean): Promise<FastifyInstance> {
  const scratchDir = join(dir, `snapshot-out-${apps.length}`);
  await mkdir(scratchDir);
  const [cert, key] = await Promise.all([readFile(ca.memberCert('m1'), 'utf8'), readFile(ca.memberKey('m1'), 'utf8')]);
  const grpcSnapshot: GrpcSnapshotOptions = {
    recipient: await readBackupRecipient(`${secretKeyFile()}.pub`), scratchDir, ...(signs ? { signer: () => backupSigner(cert, key) } : {}),
  };
  const app = buildClientApi({ backend: backendOf(cluster.replica(1)), identify: () => admin, grpcSnapshot });
  apps.push(app);
  await app.ready();
  return app;
}

/** One Snapshot call: the blobs put together, as etcdctl writes them to its file, and the call's grpc-status. */
async function snapshot(app: FastifyInstance): Promise<{ file: Buffer; status: string; message: string }> {
  const response = await app.inject({
    method: 'POST', url: '/etcdserverpb.Maintenance/Snapshot', headers: { 'content-type': 'application/grpc' }, payload: Buffer.from(frame(new Uint8Array(0))),
  });
  const reader = new FrameReader();
  const blobs = reader.push(response.rawPayload).map((message) => decode(messageType('SnapshotResponse'), message).blob as Uint8Array);
  return { file: Buffer.concat(blobs), status: String(response.trailers['grpc-status'] ?? response.headers['grpc-status']), message: String(response.trailers['grpc-message'] ?? response.headers['grpc-message'] ?? '') };
}

test('etcd\'s Snapshot streams a backup signed by the member, at a size etcdctl keeps, which restores against the cluster\'s CA only', async () => {
  const { file, status } = await snapshot(await memberApi(true));
  assert.equal(status, '0');
  assert.equal(file.subarray(0, 14).toString(), 'COFFER-BACKUP\n');
  assert.equal(file.length % 512, 32, 'etcdctl keeps a stream of a bolt file\'s size and its SHA-256');
  assert.ok(file.includes(new X509Certificate(await readFile(ca.memberCert('m1'))).raw), 'the member\'s certificate is in it');
  const saved = join(dir, 'etcdctl.snapshot');
  await writeFile(saved, file);

  const other = await makeCa(join(dir, 'other-certs'), ['m1']);
  const unsealKey = join(dir, 'r1.key');
  await createKeyFile(unsealKey);
  const restore = (dataDir: string, caCert: string) => restoreBackup({
    file: saved, dataDir, name: 'r1', initialCluster: 'r1=https://127.0.0.1:9001', initialClusterToken: 'tok', backupKeyFile: secretKeyFile(), caCert,
    unseal: { kind: 'keyFile', path: unsealKey },
  }, {});
  await assert.rejects(restore(join(dir, 'r-other'), other.caCert), /its signer is not trusted: certificate \w+ \(CN=m1, O=coffer:members\) was not issued by the CA in /);
  const summary = await restore(join(dir, 'r1'), ca.caCert);
  assert.match(summary.signedBy ?? '', /^member m1 \(certificate [0-9a-f]+\)$/);
  const keyring = await openKeyring({ dir: join(dir, 'r1'), kek: await keyFileKek(unsealKey), createIfMissing: false });
  const store = await MvccStore.open({ dir: join(dir, 'r1', 'mvcc'), sealer: keyring, storeId: 'r1/mvcc' });
  try {
    assert.equal(dec((await store.range(enc('/registry/secrets/ns/db'))).kvs[0]!.value), 'grpc-snapshot-value-3e1');
  } finally {
    await store.close();
    await keyring.close();
  }
});

test('a member with no certificate to sign with refuses the call (FailedPrecondition) and streams nothing', async () => {
  const { file, status, message } = await snapshot(await memberApi(false));
  assert.equal(status, '9');
  assert.match(decodeURIComponent(message), /signed by the member that writes it, and this member has no certificate to sign with/);
  assert.equal(file.length, 0);
});
