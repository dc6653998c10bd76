// `coffer snapshot restore` of backups sealed to a backup key, as an operator runs it: from the embedded
// set-up's directory, README's command line verbatim (--cacert certs/ca.crt) restores a backup signed by
// a member, saying which CRL it checked; COFFER_CACERT names the CA too, and without either a signed
// backup is refused, certs/ca.crt in the directory or not. A backup signed by another cluster's member,
// an unsigned one without --allow-unsigned-backup, one whose CA has no crl.pem beside it without
// --allow-missing-crl, or one whose CA is in a directory others may write to is refused with one line
// on stderr, exit status 1, and no data dir.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyFile } from '../../../src/crypto/index.ts';
import { createBackupKeyFiles, readBackupRecipient, writeBackup } from '../../../src/storage/backup/index.ts';
import { repoRoot } from '../../support/cluster/index.ts';
import { iterate, makeCa, sampleRecords, signerFrom, writeUnsignedSealedBackup } from '../../unit/backup/helpers.ts';

interface Run { code: number; stdout: string; stderr: string }

/** The set-up: certs/ as bootstrap-ca lays it out (m1 and r1), certs/backup.key, and data/. */
let setup: string;

before(async () => {
  setup = await mkdtemp(join(tmpdir(), 'coffer-e2e-signed-restore-'));
  const ca = await makeCa(join(setup, 'certs'), ['m1', 'r1']);
  await createKeyFile(ca.memberUnsealKey('r1'));
  await createBackupKeyFiles(join(setup, 'certs', 'backup.key'));
  await mkdir(join(setup, 'data'));
  const recipient = await readBackupRecipient(join(setup, 'certs', 'backup.key.pub'));
  // What etcdctl snapshot save gets from member m1, from a member of another cluster, and from before backups were signed.
  const signed = async (file: string, signer: Awaited<ReturnType<typeof signerFrom>>) => writeBackup({
    file: join(setup, 'data', file), recipient, signer, records: iterate(sampleRecords(3)), sourceClusterId: 'abcdefabcdefabcd', sizeAlignment: { multiple: 512, remainder: 32 },
  });
  await signed('etcdctl.cbk', await signerFrom(ca.memberCert('m1'), ca.memberKey('m1')));
  const other = await makeCa(join(setup, 'other-certs'), ['m1']);
  await signed('other.cbk', await signerFrom(other.memberCert('m1'), other.memberKey('m1')));
  await writeUnsignedSealedBackup(join(setup, 'data', 'unsigned.cbk'), recipient, sampleRecords(3));
});

after(() => rm(setup, { recursive: true, force: true }));

function coffer(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const env = { ...process.env, ...options.env };
  if (options.env?.COFFER_CACERT === undefined) delete env.COFFER_CACERT;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', import.meta.resolve('tsx'), join(repoRoot, 'src/server/coffer.ts'), ...args], { cwd: options.cwd ?? setup, env, timeout: 120_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
}

let restores = 0;
/**
 * README's restore command line for `file` (under data/), into a new data dir (`data/rN`): its paths
 * relative to the set-up, or absolute to run it from elsewhere; `cacert` another CA file, or undefined
 * for none.
 */
function restoreArgs(file: string, options: { more?: string[]; absolute?: boolean; cacert?: string | undefined } = {}): { args: string[]; dataDir: string } {
  const at = (path: string) => (options.absolute === true ? join(setup, path) : path);
  const cacert = 'cacert' in options ? options.cacert : at('certs/ca.crt');
  const dataDir = `data/r${++restores}`;
  return {
    dataDir: join(setup, dataDir),
    args: ['snapshot', 'restore', at(file), '--backup-key', at('certs/backup.key'), ...(cacert === undefined ? [] : ['--cacert', cacert]),
      '--data-dir', at(dataDir), '--name', 'r1', '--initial-cluster', 'r1=https://127.0.0.1:7474', '--unseal-key-file', at('certs/members/r1.unseal.key'),
      ...(options.more ?? [])],
  };
}

function assertRefused(run: Run, dataDir: string, message: RegExp): void {
  assert.equal(run.code, 1, run.stdout);
  assert.match(run.stderr, /^coffer snapshot restore: [^\n]+\n$/, 'one line');
  assert.match(run.stderr, message);
  assert.equal(existsSync(dataDir), false, 'no data dir');
}

test('README\'s command line restores a backup signed by a member, naming the CRL it checked; COFFER_CACERT names the CA too, and without either it is refused', async () => {
  const readme = restoreArgs('data/etcdctl.cbk');
  const run = await coffer(readme.args);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, new RegExp('^coffer: restored member r1 \\(id 1\\) of new cluster \\w+ \\(from cluster abcdefabcdefabcd, signed by its member m1 \\(certificate [0-9a-f]+\\), '
    + 'revocation checked against CRL certs/crl\\.pem \\(number \\d+\\)\\) into data/r\\d+'));
  assert.ok(existsSync(join(readme.dataDir, 'mvcc')));
  const elsewhere = await mkdtemp(join(tmpdir(), 'coffer-e2e-signed-restore-cwd-'));
  try {
    const variable = restoreArgs('data/etcdctl.cbk', { absolute: true, cacert: undefined });
    assert.equal((await coffer(variable.args, { cwd: elsewhere, env: { COFFER_CACERT: join(setup, 'certs/ca.crt') } })).code, 0);
    // No CA named: said in one line, naming the flag — also where certs/ca.crt is right there.
    for (const cwd of [elsewhere, setup]) {
      const none = restoreArgs('data/etcdctl.cbk', { absolute: true, cacert: undefined });
      assertRefused(await coffer(none.args, { cwd }), none.dataDir, /needs the CA certificate of its cluster: give --cacert or COFFER_CACERT \(a restore takes no CA from the directory it runs in\)$/m);
    }
  } finally {
    await rm(elsewhere, { recursive: true, force: true });
  }
});

test('a backup signed by a member of another cluster is refused in one line, with no data dir; against its own CA it restores', async () => {
  const refused = restoreArgs('data/other.cbk');
  assertRefused(await coffer(refused.args), refused.dataDir, /backup data\/other\.cbk is refused: its signer is not trusted: certificate \w+ \(CN=m1, O=coffer:members\) was not issued by the CA in certs\/ca\.crt/);
  const own = restoreArgs('data/other.cbk', { cacert: 'other-certs/ca.crt' });
  assert.equal((await coffer(own.args)).code, 0);
});

test('an unsigned backup is refused in one line naming --allow-unsigned-backup, and restored with it', async () => {
  const refused = restoreArgs('data/unsigned.cbk');
  assertRefused(await coffer(refused.args), refused.dataDir, /is sealed to a backup key but not signed .* with --allow-unsigned-backup$/m);
  const allowed = restoreArgs('data/unsigned.cbk', { more: ['--allow-unsigned-backup'] });
  const run = await coffer(allowed.args);
  assert.equal(run.code, 0, run.stderr);
  assert.doesNotMatch(run.stdout, /signed by/);
});

test('a CA certificate with no crl.pem beside it is refused in one line saying where to put it, and restores with --allow-missing-crl, saying revocation was not checked', async () => {
  await mkdir(join(setup, 'ca-only'), { mode: 0o700 });
  await copyFile(join(setup, 'certs', 'ca.crt'), join(setup, 'ca-only', 'ca.crt'));
  const refused = restoreArgs('data/etcdctl.cbk', { cacert: 'ca-only/ca.crt' });
  assertRefused(await coffer(refused.args), refused.dataDir, /there is no CRL to check that member's certificate against: ca-only\/crl\.pem is missing; copy the CA's crl\.pem beside ca-only\/ca\.crt, or restore without a revocation check with --allow-missing-crl$/m);
  const allowed = restoreArgs('data/etcdctl.cbk', { cacert: 'ca-only/ca.crt', more: ['--allow-missing-crl'] });
  const run = await coffer(allowed.args);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /signed by its member m1 \(certificate [0-9a-f]+\), revocation not checked: no CRL at ca-only\/crl\.pem \(--allow-missing-crl\)\)/);
});

test('a CA certificate in a directory others may write to is refused in one line naming the directory', async () => {
  await chmod(join(setup, 'other-certs'), 0o777);
  try {
    const refused = restoreArgs('data/other.cbk', { cacert: 'other-certs/ca.crt' });
    assertRefused(await coffer(refused.args), refused.dataDir, new RegExp(`cannot trust the CA certificate other-certs/ca\\.crt: ${join(setup, 'other-certs')} has mode 0777: `
      + 'others may write to it and it is not sticky; another user may have written it'));
  } finally {
    await chmod(join(setup, 'other-certs'), 0o700);
  }
});
