// restoreBackup on real stores and keyrings: a store saved to a backup is rebuilt as a new cluster's
// member data dir with the same keys at the same revisions; bad backups and used dirs change nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock, seededRandom } from '../../../src/base/index.ts';
import { createKeyFile, keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import { Replica } from '../../../src/replication/index.ts';
import { writeBackup } from '../../../src/storage/backup/index.ts';
import { type KeyValue, MvccStore } from '../../../src/storage/mvcc/index.ts';
import { restoreBackup, restoredClusterId } from '../../../src/server/restore.ts';

const fastArgon2 = { memoryKiB: 1024, timeCost: 1, parallelism: 1 };
const env = { COFFER_BACKUP_PASSPHRASE: 'backup passphrase for tests' };
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const memberKey = (id: number) => enc(`\0coffer/members/${String(id).padStart(12, '0')}`);
const initialCluster = 'n1=https://127.0.0.1:9001,n2=https://127.0.0.1:9002,n3=https://127.0.0.1:9003';

let dir: string;
let backupFile: string;
let sourceKvs: KeyValue[];
let sourceRevision: number;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-restore-'));
  const keyFile = join(dir, 'source.key');
  await createKeyFile(keyFile);
  const keyring = await openKeyring({ dir: join(dir, 'source'), kek: await keyFileKek(keyFile) });
  const store = await MvccStore.open({ dir: join(dir, 'source', 'mvcc'), sealer: keyring, storeId: 'old/mvcc' });
  await store.applyBatch(3, [
    { type: 'put', key: memberKey(1), value: enc('{"id":1,"name":"old"}') },
    { type: 'put', key: enc('/registry/secrets/a/db'), value: enc('secret-one') },
  ]);
  await store.applyBatch(4, [{ type: 'put', key: enc('/registry/secrets/a/db'), value: enc('secret-two') }]);
  await store.applyBatch(5, [{ type: 'put', key: enc('/registry/configmaps/a/gone'), value: enc('x') }]);
  await store.applyBatch(6, [{ type: 'deleteRange', key: enc('/registry/configmaps/a/gone') }]);
  await store.applyBatch(7, [{ type: 'put', key: enc('/registry/configmaps/b/cfg'), value: enc('plain') }, { type: 'put', key: memberKey(2), value: enc('{}') }]);
  // A lease with a key attached: the backup carries both, and the restored key names the lease.
  await store.applyBatch(8, [{ type: 'leaseGrant', id: 0, ttl: 300, idFrom: 8 }, { type: 'put', key: enc('/leased'), value: enc('v'), lease: 8 }]);
  sourceRevision = store.currentRevision();
  sourceKvs = (await store.range(enc('/'), enc('0'))).kvs;
  backupFile = join(dir, 'backup.cbk');
  await writeBackup({ file: backupFile, passphrase: enc(env.COFFER_BACKUP_PASSPHRASE), records: store.exportSnapshot(), sourceClusterId: 'aaaabbbbccccdddd', argon2: fastArgon2 });
  await store.close();
  await keyring.close();
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function restoreMember(name: string, dataDir: string, file = backupFile, environment: Record<string, string> = env) {
  const keyFile = join(dir, `${name}.key`);
  if (!existsSync(keyFile)) await createKeyFile(keyFile);
  return restoreBackup({ file, dataDir, name, initialCluster, initialClusterToken: 'tok', unseal: { kind: 'keyFile', path: keyFile } }, environment);
}

test('a restored store holds the same keys, values and revisions, without the old member table, at applied index 0', async () => {
  const dataDir = join(dir, 'r-n2');
  const summary = await restoreMember('n2', dataDir);
  assert.equal(summary.memberId, 2);
  assert.equal(summary.droppedRecords, 2);
  assert.equal(summary.revision, sourceRevision);
  assert.equal(summary.clusterId, restoredClusterId(['n1', 'n2', 'n3'], 'tok', summary.integrityHash));
  assert.notEqual(summary.clusterId, 'aaaabbbbccccdddd');
  assert.deepEqual((await readdir(dataDir)).sort(), ['keyring.json', 'member.sealed', 'mvcc']);
  assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.restore-')), [], 'no staging dir left');

  const keyring = await openKeyring({ dir: dataDir, kek: await keyFileKek(join(dir, 'n2.key')), createIfMissing: false });
  const store = await MvccStore.open({ dir: join(dataDir, 'mvcc'), sealer: keyring, storeId: 'n2/mvcc' });
  try {
    assert.equal(store.appliedIndex(), 0);
    assert.equal(store.currentRevision(), sourceRevision);
    assert.deepEqual((await store.range(enc('/'), enc('0'))).kvs, sourceKvs);
    assert.equal(sourceKvs.find((kv) => dec(kv.key) === '/leased')?.lease, 8);
    assert.deepEqual([store.leases(), store.lease(8)?.keys.map(dec)], [[{ id: 8, ttl: 300, remainingTtlMs: 0, refreshes: 0 }], ['/leased']]);
    assert.equal((await store.range(enc('\0coffer/'), enc('\0coffer0'))).count, 0);
    // History survives too: the secret's first value at its first revision.
    const first = await store.range(enc('/registry/secrets/a/db'), undefined, { revision: sourceKvs.find((kv) => dec(kv.key) === '/registry/secrets/a/db')!.createRevision });
    assert.equal(dec(first.kvs[0]!.value), 'secret-one');
  } finally {
    await store.close();
    await keyring.close();
  }
});

test('every member restored from one file with the same flags gets the same new cluster id', async () => {
  const a = await restoreMember('n1', join(dir, 'same-n1'));
  const b = await restoreMember('n3', join(dir, 'same-n3'));
  assert.equal(a.clusterId, b.clusterId);
  assert.equal(b.memberId, 3);
});

test('the first start of a restored member bootstraps the new log and applies its membership after the restored revisions', async () => {
  const dataDir = join(dir, 'boot-n1');
  await restoreMember('n1', dataDir);
  const keyring = await openKeyring({ dir: dataDir, kek: await keyFileKek(join(dir, 'n1.key')), createIfMissing: false });
  const members = [{ id: 1, name: 'n1', peerUrl: '', clientUrl: '', learner: false, removed: false }];
  const replica = await Replica.open({
    dataDir, memberId: 1, memberName: 'n1', sealer: keyring, clock: realClock, random: seededRandom(1), send: () => undefined,
    initialMembers: members, tickMs: 10,
  });
  try {
    await replica.linearizableBarrier();
    assert.deepEqual(replica.memberList().map((m) => m.name), ['n1']);
    assert.equal(replica.status().revision, sourceRevision + 1);
    const now = await replica.range(enc('/'), enc('0'), { linearizable: true });
    assert.deepEqual(now.kvs, sourceKvs);
  } finally {
    await replica.close();
    await keyring.close();
  }
});

test('a data dir that holds anything is refused and left as it was', async () => {
  const dataDir = join(dir, 'used');
  await mkdir(dataDir);
  await writeFile(join(dataDir, 'something'), 'x');
  await assert.rejects(restoreMember('n1', dataDir), /already holds data/);
  assert.deepEqual(await readdir(dataDir), ['something']);
});

test('a truncated, corrupted or wrongly unlocked backup is refused and creates no data dir', async () => {
  const whole = await readFile(backupFile);
  const truncated = join(dir, 'truncated.cbk');
  await writeFile(truncated, whole.subarray(0, whole.length - 10));
  const corrupted = join(dir, 'corrupted.cbk');
  const flipped = Buffer.from(whole);
  flipped[4096 + 14 + 40] = flipped[4096 + 14 + 40]! ^ 0x80;
  await writeFile(corrupted, flipped);
  const cases: [string, string, Record<string, string>, RegExp][] = [
    ['truncated', truncated, env, /truncated/],
    ['corrupted', corrupted, env, /corrupted/],
    ['wrong passphrase', backupFile, { COFFER_BACKUP_PASSPHRASE: 'not it' }, /wrong backup passphrase/],
    ['no passphrase', backupFile, {}, /backup passphrase is required/],
  ];
  for (const [what, file, environment, message] of cases) {
    const dataDir = join(dir, `bad-${what.replace(/ /g, '-')}`);
    await assert.rejects(restoreMember('n1', dataDir, file, environment), message, what);
    assert.equal(existsSync(dataDir), false, `${what}: no data dir`);
  }
  assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.restore-')), [], 'no staging dir left');
});
