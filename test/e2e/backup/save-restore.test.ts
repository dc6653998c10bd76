// `coffer snapshot save` against a real 3-member cluster, then `coffer snapshot restore` into the data
// dirs of a fresh 3-member cluster: the same keys and values at the same revisions under a new
// cluster id. Truncated, corrupted and wrongly unlocked backups are refused with one line on stderr,
// and the backup file holds no plaintext.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KeyValue } from '../../../src/client/index.ts';
import { type Backend, Cluster, cofferBackend, repoRoot } from '../../support/cluster/index.ts';

const run = promisify(execFile);
const passphrase = 'e2e backup passphrase, not the unseal key';
const marker = 'E2E-SECRET-VALUE-5d1c9b';
/** Every user key: from 0x01 to the end of the key space (Coffer's own keys start with 0x00). */
const everything = { rangeEnd: new Uint8Array([0]) };

let dir: string;
let backupFile: string;
let saved: { revision: number; records: number; sourceClusterId: string };
let sourceKvs: KeyValue[];

async function coffer(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/server/coffer.ts', ...args], {
      cwd: repoRoot, env: { ...process.env, ...env },
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failure = error as { stdout: string; stderr: string; code: number };
    return { stdout: failure.stdout, stderr: failure.stderr, code: failure.code };
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-e2e-backup-'));
  backupFile = join(dir, 'cluster.backup');
  const source = await Cluster.start({ size: 3, faults: false });
  try {
    const client = source.client([0, 1, 2]);
    for (let i = 0; i < 40; i++) await client.put(`/e2e/key-${String(i).padStart(2, '0')}`, `value-${i}`);
    for (let i = 0; i < 10; i++) await client.put(`/e2e/key-${String(i).padStart(2, '0')}`, `value-${i}-again`);
    for (let i = 30; i < 35; i++) await client.deleteRange(`/e2e/key-${i}`);
    await client.put('/e2e/secret', marker);
    // Enough records for the save to report progress (every 10 000): 10 240 keys, 128 per transaction.
    for (let t = 0; t < 80; t++) {
      await client.txn({ success: Array.from({ length: 128 }, (_, j) => ({ put: { key: `/e2e/bulk/${String(t * 128 + j).padStart(5, '0')}`, value: `b${t}.${j}` } })) });
    }
    const flags = ['--endpoints', source.clientUrl(1), '--cacert', source.certs.ca, '--cert', source.certs.clientCert, '--key', source.certs.clientKey];
    const save = await coffer([...flags, '-o', 'json', 'snapshot', 'save', backupFile], { COFFER_BACKUP_PASSPHRASE: passphrase });
    assert.equal(save.code, 0, save.stderr);
    saved = JSON.parse(save.stdout) as typeof saved;
    assert.match(save.stderr, /^coffer: snapshot: 10\d{3} records, [\d.]+ MiB written\n$/, 'progress on stderr');
    // What the source held at the backup's revision, read back from the source itself.
    sourceKvs = (await client.range(new Uint8Array([1]), { ...everything, revision: saved.revision })).kvs;
    assert.equal(saved.sourceClusterId, (await client.status()).header.clusterId);
  } finally {
    await source.stop();
  }
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function restoreArgs(file: string, dataDir: string, name: string, initialCluster: string, keyFile: string): string[] {
  return ['snapshot', 'restore', file, '--data-dir', dataDir, '--name', name, '--initial-cluster', initialCluster, '--unseal-key-file', keyFile];
}

/** The coffer backend, except that each member's data dir is first restored from the backup. */
function restoringBackend(file: string): Backend {
  return {
    ...cofferBackend,
    async prepare(spec) {
      await cofferBackend.prepare(spec);
      const restored = await coffer(restoreArgs(file, spec.dataDir, spec.name, spec.initialCluster, spec.keyFile), { COFFER_BACKUP_PASSPHRASE: passphrase });
      assert.equal(restored.code, 0, restored.stderr);
      assert.match(restored.stdout, /restored member m\d \(id \d\) of new cluster \w+/);
    },
  };
}

test('a cluster restored from the backup serves the same keys and values at the same revisions under a new cluster id', async () => {
  assert.ok(sourceKvs.length >= 36 + 10_240, `the source held ${sourceKvs.length} keys`);
  const restored = await Cluster.start({ size: 3, faults: false, backend: restoringBackend(backupFile) });
  try {
    await restored.waitReady();
    const ids = new Set<string>();
    for (const i of [0, 1, 2]) {
      const client = restored.client(i);
      const now = await client.range(new Uint8Array([1]), { ...everything, revision: saved.revision });
      const shape = (kvs: KeyValue[]) => kvs.map((kv) => ({
        key: Buffer.from(kv.key).toString(), value: Buffer.from(kv.value).toString(), createRevision: kv.createRevision,
        modRevision: kv.modRevision, version: kv.version,
      }));
      assert.deepEqual(shape(now.kvs), shape(sourceKvs), `member m${i + 1} serves the backup's keys at the same revisions`);
      const latest = await client.get('/e2e/secret');
      assert.equal(Buffer.from(latest?.value ?? []).toString(), marker);
      ids.add(now.header.clusterId);
    }
    assert.equal(ids.size, 1, 'the three restored members form one cluster');
    assert.notEqual([...ids][0], saved.sourceClusterId, 'the restored cluster has a new id');
    const members = await restored.client(0).memberList();
    assert.deepEqual(members.members.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);
    // The restored cluster takes writes after the backup's revision.
    const put = await restored.client(0).put('/e2e/after-restore', 'new');
    assert.ok(put.header.revision > saved.revision);
  } finally {
    await restored.stop();
  }
});

test('the backup file holds no value in the clear, in base64 or in hex', async () => {
  const raw = await readFile(backupFile);
  for (const form of [marker, Buffer.from(marker).toString('base64'), Buffer.from(marker).toString('hex'), '/e2e/key-']) {
    assert.equal(raw.includes(Buffer.from(form)), false, `found ${form}`);
  }
});

test('truncated, corrupted and wrongly unlocked backups are refused with one clear line, creating no data dir', async () => {
  const whole = await readFile(backupFile);
  const truncated = join(dir, 'truncated.backup');
  await writeFile(truncated, whole.subarray(0, Math.floor(whole.length * 0.7)));
  const corrupted = join(dir, 'corrupted.backup');
  const flipped = Buffer.from(whole);
  const at = 14 + 4096 + Math.floor((whole.length - 14 - 4096) / 2);
  flipped[at] = flipped[at]! ^ 0x04;
  await writeFile(corrupted, flipped);
  const keyFile = join(dir, 'x.key');
  await cofferBackend.prepare({ keyFile } as Parameters<Backend['prepare']>[0]);
  const cases: [string, string, string, RegExp][] = [
    ['truncated', truncated, passphrase, /^coffer snapshot restore: backup .* is truncated: it ends .*\n$/],
    ['corrupted', corrupted, passphrase, /^coffer snapshot restore: backup .* is corrupted: .*\n$/],
    ['wrong passphrase', backupFile, 'not the passphrase', /^coffer snapshot restore: backup .*: wrong backup passphrase\n$/],
  ];
  for (const [what, file, pass, message] of cases) {
    const dataDir = join(dir, `data-${what.replace(/ /g, '-')}`);
    const result = await coffer(restoreArgs(file, dataDir, 'm1', 'm1=https://127.0.0.1:1', keyFile), { COFFER_BACKUP_PASSPHRASE: pass });
    assert.equal(result.code, 1, what);
    assert.match(result.stderr, message, what);
    assert.equal(existsSync(dataDir), false, `${what}: no data dir`);
  }
});

test('save refuses to overwrite an existing file and needs a readable passphrase, before contacting any member', async () => {
  const existing = join(dir, 'existing.backup');
  await writeFile(existing, 'precious');
  const overwrite = await coffer(['--endpoints', 'https://127.0.0.1:1', 'snapshot', 'save', existing], { COFFER_BACKUP_PASSPHRASE: passphrase });
  assert.equal(overwrite.code, 1);
  assert.match(overwrite.stderr, /^coffer: .*existing\.backup already exists; a backup is never overwritten\n$/);
  assert.equal(await readFile(existing, 'utf8'), 'precious');

  const target = join(dir, 'never.backup');
  const noPass = await coffer(['--endpoints', 'https://127.0.0.1:1', 'snapshot', 'save', target, '--backup-passphrase-file', join(dir, 'missing')]);
  assert.equal(noPass.code, 1);
  assert.match(noPass.stderr, /^coffer: cannot read backup passphrase file .*missing \(ENOENT\)\n$/);
  const loose = join(dir, 'loose.pass');
  await writeFile(loose, `${passphrase}\n`);
  await chmod(loose, 0o644);
  const loosePass = await coffer(['--endpoints', 'https://127.0.0.1:1', 'snapshot', 'save', target, '--backup-passphrase-file', loose]);
  assert.notEqual(loosePass.code, 0);
  assert.equal(loosePass.stderr, `coffer: backup passphrase file ${loose} has mode 0644; it must be readable by its owner only (chmod 600 ${loose})\n`);
  assert.equal(existsSync(target), false);
});
