// restoreBackup of backups sealed to a backup recipient (etcd's Snapshot): the sealing is anonymous and
// the public key is given to every member, so anyone holding FILE.pub could write a "backup" of their
// choosing — a ClusterRoleBinding making `mallory` cluster-admin, say. Restore takes only a backup signed
// by a member certificate of the cluster's CA: a forged one (unsigned, or signed by a CA the forger made,
// by another cluster's member, by a client, by a revoked member or by one outside its validity when the
// backup says it was made), or one whose signature or certificate was changed, is refused with one line
// and no data dir. An unsigned backup from before backups were signed restores only with the flag.
// The CA is the one thing that makes such a backup authentic, so restore takes it only where the
// operator names it, only from files no one but they (or root) could have put there, and checks the
// signer against the CA's CRL or says it cannot.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createKeyFile, keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import {
  bootstrapCa, caLayout, type CaLayout, crlNumberOf, issueClient, issueMember, loadCa, revokeCertificate, x509,
} from '../../../src/pki/index.ts';
import { type BackupSigner, createBackupKeyFiles, readBackupRecipient, writeBackup } from '../../../src/storage/backup/index.ts';
import { type KeyValue, MvccStore, type SnapshotRecord } from '../../../src/storage/mvcc/index.ts';
import { type RestoreOptions, type RestoreSummary, restoreBackup } from '../../../src/server/restore.ts';
import { collect, makeCa, signatureAt, signerFrom, writeUnsignedSealedBackup } from '../../unit/backup/helpers.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dayMs = 24 * 60 * 60 * 1000;
const bindingKey = '/registry/clusterrolebindings/pwn';
/** Another local user ("nobody"): giving them a file takes root, as the suite runs here and in CI. */
const otherUid = 65534;
const isRoot = process.geteuid?.() === 0;
const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let dir: string;
let ca: CaLayout;
let otherCa: CaLayout;
let secretKeyFile: string;
let recipient: Uint8Array;
let store: MvccStore;
let closeKeyring: () => Promise<void>;
let sourceKvs: KeyValue[];
let restores = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-signed-restore-'));
  ca = await makeCa(join(dir, 'certs'), ['m1', 'm2']);
  await issueClient(await loadCa(ca.dir), { user: 'mallory' });
  otherCa = await makeCa(join(dir, 'other-certs'), ['m1']);
  ({ secretKeyFile } = await createBackupKeyFiles(join(dir, 'backup.key')));
  recipient = await readBackupRecipient(`${secretKeyFile}.pub`);
  // The store whose backups are written: by a member, or by someone holding only the public key.
  const keyFile = join(dir, 'source.kek');
  await createKeyFile(keyFile);
  const keyring = await openKeyring({ dir: join(dir, 'source'), kek: await keyFileKek(keyFile) });
  closeKeyring = () => keyring.close();
  store = await MvccStore.open({ dir: join(dir, 'source', 'mvcc'), sealer: keyring, storeId: 'x/mvcc' });
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'pwn' },
    subjects: [{ kind: 'User', name: 'mallory', apiGroup: 'rbac.authorization.k8s.io' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
  };
  await store.applyBatch(3, [{ type: 'put', key: enc(bindingKey), value: enc(JSON.stringify(binding)) }]);
  await store.applyBatch(4, [{ type: 'put', key: enc('/registry/secrets/a/db'), value: enc('secret-one') }]);
  sourceKvs = (await store.range(enc('/'), enc('0'))).kvs;
});

after(async () => {
  await store.close();
  await closeKeyring();
  await rm(dir, { recursive: true, force: true });
});

/** The store as a backup sealed to the recipient and signed by `signer`. */
async function sealedBy(name: string, signer: BackupSigner, now?: Date): Promise<string> {
  const file = join(dir, `${name}.cbk`);
  await writeBackup({ file, recipient, signer, records: store.exportSnapshot(), sourceClusterId: 'abcdefabcdefabcd', ...(now === undefined ? {} : { now: () => now }) });
  return file;
}

async function restore(file: string, options: Partial<RestoreOptions> = {}, env: Record<string, string> = {}): Promise<RestoreSummary & { dataDir: string }> {
  const name = `r${++restores}`;
  const keyFile = join(dir, `${name}.key`);
  await createKeyFile(keyFile);
  return restoreBackup({
    file, dataDir: join(dir, 'restored', name), name: 'n1', initialCluster: 'n1=https://127.0.0.1:9001', initialClusterToken: 'tok',
    backupKeyFile: secretKeyFile, caCert: ca.caCert, unseal: { kind: 'keyFile', path: keyFile }, ...options,
  }, env);
}

/** Restores `file`, expecting a refusal matching `message`: one line, and no data dir (nor a staging dir) left. */
async function refused(file: string, message: RegExp, options: Partial<RestoreOptions> = {}): Promise<void> {
  const before = existsSync(join(dir, 'restored')) ? await readdir(join(dir, 'restored')) : [];
  await assert.rejects(restore(file, options), (error: Error) => {
    assert.match(error.message, message);
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });
  const after = existsSync(join(dir, 'restored')) ? await readdir(join(dir, 'restored')) : [];
  assert.deepEqual(after, before, 'no data dir, nor a staging dir, was made');
}

test('a backup forged with only the recipient\'s public key is refused by restore: unsigned, or signed by a CA the forger made', async () => {
  const records: SnapshotRecord[] = await collect(store.exportSnapshot());
  const unsigned = join(dir, 'forged.cbk');
  await writeUnsignedSealedBackup(unsigned, recipient, records, 'abcdefabcdefabcd');
  await refused(unsigned, /is sealed to a backup key but not signed .*--allow-unsigned-backup/);
  const selfMade = await makeCa(join(dir, 'forger-certs'), ['m1']);
  const forged = await sealedBy('forged-signed', await signerFrom(selfMade.memberCert('m1'), selfMade.memberKey('m1')));
  await refused(forged, /its signer is not trusted: certificate \w+ \(CN=m1, O=coffer:members\) was not issued by the CA in /);
});

test('a backup signed by a member of another cluster\'s CA is refused', async () => {
  const file = await sealedBy('other-cluster', await signerFrom(otherCa.memberCert('m1'), otherCa.memberKey('m1')));
  await refused(file, new RegExp(`backup ${file} is refused: its signer is not trusted: certificate \\w+ .* was not issued by the CA in ${ca.caCert}`));
  // The same file restores against its own cluster's CA.
  assert.match((await restore(file, { caCert: otherCa.caCert })).signedBy ?? '', /^member m1 \(certificate \w+\)$/);
});

test('a backup signed with a client certificate of the cluster\'s CA — an administrator\'s or any user\'s — is refused', async () => {
  for (const user of ['admin', 'mallory']) {
    const file = await sealedBy(`client-${user}`, await signerFrom(ca.clientCert(user), ca.clientKey(user)));
    await refused(file, new RegExp(`its signer is not trusted: certificate \\w+ \\(CN=${user}.*\\) is not a member certificate`));
  }
});

test('a changed signature or certificate, or a member\'s signature part put on a forged file, is refused', async () => {
  const file = await sealedBy('genuine', await signerFrom(ca.memberCert('m1'), ca.memberKey('m1')));
  const whole = await readFile(file);
  const certificate = Buffer.from((await signerFrom(ca.memberCert('m1'), ca.memberKey('m1'))).certificate);
  const certAt = whole.lastIndexOf(certificate);
  for (const [what, offset] of [['signature', whole.length - 1], ['certificate', certAt + 150]] as const) {
    const copy = Buffer.from(whole);
    copy[offset] = copy[offset]! ^ 0x01;
    const damaged = join(dir, `changed-${what}.cbk`);
    await writeFile(damaged, copy);
    await refused(damaged, /is refused: its sign(ature|ing certificate)/);
  }
  // A forger's format 2 file: without a signature it is cut short; with a member's genuine signature
  // part grafted on, the signature is of another file.
  const forged = join(dir, 'forged-format-2.cbk');
  await writeUnsignedSealedBackup(forged, recipient, await collect(store.exportSnapshot()), 'abcdefabcdefabcd', 2);
  await refused(forged, /is truncated: it ends after its final chunk, before its signature/);
  const grafted = join(dir, 'grafted.cbk');
  await writeFile(grafted, Buffer.concat([await readFile(forged), whole.subarray(signatureAt(whole))]));
  await refused(grafted, /is refused: its signature does not verify/);
});


test('an unsigned backup from before backups were signed is refused by default, saying why, and restored with allowUnsignedBackup', async () => {
  const file = join(dir, 'format-1.cbk');
  await writeUnsignedSealedBackup(file, recipient, await collect(store.exportSnapshot()), 'abcdefabcdefabcd');
  await refused(file, new RegExp(`^backup ${file} is sealed to a backup key but not signed \\(format 1, written before backups were signed\\), `
    + 'so anyone holding the public key could have written it; restore it only if you know where it came from, with --allow-unsigned-backup$'));
  // No CA is needed for it: it has no signer to check.
  const summary = await restore(file, { allowUnsignedBackup: true, caCert: join(dir, 'no-such-ca.crt') });
  assert.equal(summary.signedBy, undefined);
  assert.equal(summary.revision, store.currentRevision());
});

test('a backup signed by a member of the cluster restores, naming that member; the CA comes from caCert or else COFFER_CACERT', async () => {
  const file = await sealedBy('member', await signerFrom(ca.memberCert('m2'), ca.memberKey('m2')));
  const summary = await restore(file);
  assert.match(summary.signedBy ?? '', /^member m2 \(certificate [0-9a-f]+\)$/);
  const restored = await restore(file, { caCert: undefined }, { COFFER_CACERT: ca.caCert });
  assert.equal(restored.signedBy, summary.signedBy);
  const kek = await keyFileKek(join(dir, `r${restores}.key`));
  const keyring = await openKeyring({ dir: restored.dataDir, kek, createIfMissing: false });
  const copy = await MvccStore.open({ dir: join(restored.dataDir, 'mvcc'), sealer: keyring, storeId: 'n1/mvcc' });
  try {
    assert.deepEqual((await copy.range(enc('/'), enc('0'))).kvs, sourceKvs);
  } finally {
    await copy.close();
    await keyring.close();
  }
});

test('a signer outside its validity when the backup says it was made, or revoked, is refused; one valid then and expired now is not', async () => {
  // A CA made 30 days ago, whose member certificate lived two days.
  const issuedAt = Date.now() - 30 * dayMs;
  await bootstrapCa({ dir: join(dir, 'aged-certs'), members: ['old'], hosts: ['127.0.0.1'], days: 2, nowMs: issuedAt });
  const aged = caLayout(join(dir, 'aged-certs'));
  const old = await signerFrom(aged.memberCert('old'), aged.memberKey('old'));
  const then = await sealedBy('old-then', old, new Date(issuedAt + dayMs));
  assert.match((await restore(then, { caCert: aged.caCert })).signedBy ?? '', /^member old /);
  await refused(await sealedBy('old-now', old), /its signer is not trusted: member old's certificate \w+ had expired at /, { caCert: aged.caCert });
  await refused(await sealedBy('old-before', old, new Date(issuedAt - 10 * dayMs)), /not yet valid at /, { caCert: aged.caCert });

  const signer = await loadCa(ca.dir);
  const issued = await issueMember(signer, { name: 'lost', hosts: ['127.0.0.1'] });
  const lost = await sealedBy('lost', await signerFrom(ca.memberCert('lost'), ca.memberKey('lost')));
  await restore(lost);
  await revokeCertificate(signer, issued.serial);
  await refused(lost, /its signer is not trusted: member lost's certificate \w+ is revoked \(.*crl\.pem\)/);
});

test('a CA certificate that cannot be read is said before anything is decrypted, naming --cacert', async () => {
  const file = await sealedBy('no-ca', await signerFrom(ca.memberCert('m1'), ca.memberKey('m1')));
  const missing = join(dir, 'missing', 'ca.crt');
  await refused(file, new RegExp(`^backup ${file} is signed by the member that made it, and checking that member needs the CA certificate of its cluster: `
    + `missing file: ${missing} \\(give --cacert or COFFER_CACERT\\)$`), { caCert: missing });
});

/** The number of the CA's CRL in `crlFile`, as the restore summary gives it. */
async function crlNumber(crlFile: string): Promise<bigint | undefined> {
  return crlNumberOf(new x509.X509Crl(await readFile(crlFile, 'utf8')));
}

/**
 * Another user's CA (`<drop>/certs`, made by them) and a backup granting mallory cluster-admin, sealed
 * to the operator's public key and signed by that CA's "member" m1: what whoever can write where
 * backups land can make with the public key alone.
 */
async function plantedIn(drop: string): Promise<{ planted: CaLayout; forged: string }> {
  const planted = await makeCa(join(drop, 'certs'), ['m1']);
  const forged = join(drop, 'snap.cbk');
  await rename(await sealedBy(`planted-${basename(drop)}`, await signerFrom(planted.memberCert('m1'), planted.memberKey('m1'))), forged);
  return { planted, forged };
}

test('restore takes no CA from the directory it runs in: a certs/ca.crt planted where backups land is not used, nor the operator\'s own, without --cacert or COFFER_CACERT', async () => {
  const drop = join(dir, 'drop');
  await mkdir(drop);
  await chmod(drop, 0o777); // backups land here, written by others
  const { planted } = await plantedIn(drop);
  if (isRoot) for (const path of [planted.dir, planted.caCert, planted.crl]) await chown(path, otherUid, otherUid);
  const cwd = process.cwd();
  try {
    // cd /backups && coffer snapshot restore snap.cbk --backup-key … (no --cacert)
    process.chdir(drop);
    await refused('snap.cbk', /^backup snap\.cbk is signed by the member that made it, and checking that member needs the CA certificate of its cluster: give --cacert or COFFER_CACERT/, { caCert: undefined });
    // Not even where certs/ca.crt is the operator's own: where a restore runs from decides nothing.
    process.chdir(dir);
    const genuine = await sealedBy('cwd-genuine', await signerFrom(ca.memberCert('m1'), ca.memberKey('m1')));
    await refused(genuine, /needs the CA certificate of its cluster: give --cacert or COFFER_CACERT/, { caCert: undefined });
  } finally {
    process.chdir(cwd);
  }
});

test('the CA certificate and the CRL beside it are refused where others may have written them: a directory on the way, or the file, writable by group or others, or a symbolic link', async () => {
  const shared = join(dir, 'shared');
  await mkdir(shared, { mode: 0o755 });
  const { planted, forged } = await plantedIn(shared);
  const untrusted = (file: string, why: string) => new RegExp(`^backup ${escaped(forged)} is signed by the member that made it, and checking that member needs the CA certificate `
    + `of its cluster: cannot trust ${file === planted.caCert ? 'the CA certificate' : 'the CRL'} ${escaped(file)}: ${why}; another user may have written it`);
  const given = { caCert: planted.caCert };
  for (const [path, mode, why] of [
    [shared, 0o777, `${escaped(shared)} has mode 0777: others may write to it and it is not sticky`],
    [dir, 0o770, `${escaped(dir)} has mode 0770: others may write to it and it is not sticky`],
    [planted.dir, 0o720, `${escaped(planted.dir)} has mode 0720: others may write to it and it is not sticky`],
  ] as const) {
    const was = (await stat(path)).mode & 0o7777;
    await chmod(path, mode);
    await refused(forged, untrusted(planted.caCert, why), given);
    await chmod(path, was);
  }
  await chmod(planted.caCert, 0o666);
  await refused(forged, untrusted(planted.caCert, 'it has mode 0666: group or others may write to it'), given);
  await chmod(planted.caCert, 0o644);
  await chmod(planted.crl, 0o664);
  await refused(forged, untrusted(planted.crl, 'it has mode 0664: group or others may write to it'), given);
  await chmod(planted.crl, 0o644);
  const link = join(shared, 'link-ca.crt');
  await symlink(planted.caCert, link);
  await refused(forged, new RegExp(`cannot trust the CA certificate ${escaped(link)}: it is a symbolic link; give the file itself`), { caCert: link });
  // Sticky, as /tmp: others may add names there but not take away one that is not theirs.
  await chmod(shared, 0o1777);
  assert.match((await restore(forged, given)).signedBy ?? '', /^member m1 /, 'the CA the operator named, in directories only they control, is taken');
  await chmod(shared, 0o755);
});

test('the CA certificate and the CRL beside it are refused when they, or a directory on the way, belong to another user', { skip: !isRoot && 'chown takes root' }, async () => {
  const other = join(dir, 'other-user');
  await mkdir(other, { mode: 0o755 });
  const { planted, forged } = await plantedIn(other);
  const owned = (what: string, file: string, owner: string) => new RegExp(`needs the CA certificate of its cluster: cannot trust ${what} ${escaped(file)}: `
    + `${owner} belongs to uid ${otherUid}, neither this user \\(uid 0\\) nor root; another user may have written it`);
  const given = { caCert: planted.caCert };
  for (const [path, what, file, owner] of [
    [planted.caCert, 'the CA certificate', planted.caCert, 'it'],
    [planted.crl, 'the CRL', planted.crl, 'it'],
    [planted.dir, 'the CA certificate', planted.caCert, escaped(planted.dir)],
    [other, 'the CA certificate', planted.caCert, escaped(other)],
  ] as const) {
    await chown(path, otherUid, otherUid);
    await refused(forged, owned(what, file, owner), given);
    await chown(path, 0, 0);
  }
  assert.match((await restore(forged, given)).signedBy ?? '', /^member m1 /);
});

test('a signer is checked against the CA\'s CRL or the restore stops, naming where it looked, unless --allow-missing-crl; the summary names the CRL and its number', async () => {
  const signer = await loadCa(ca.dir);
  const issued = await issueMember(signer, { name: 'retired', hosts: ['127.0.0.1'] });
  const file = await sealedBy('retired', await signerFrom(ca.memberCert('retired'), ca.memberKey('retired')));
  await revokeCertificate(signer, issued.serial);
  // The machine that restores was given ca.crt alone.
  const copy = join(dir, 'ca-copy');
  await mkdir(copy, { mode: 0o700 });
  const caCert = join(copy, 'ca.crt');
  const crl = join(copy, 'crl.pem');
  await copyFile(ca.caCert, caCert);
  await refused(file, new RegExp(`^backup ${escaped(file)} is signed by a member, and there is no CRL to check that member's certificate against: `
    + `${escaped(crl)} is missing; copy the CA's crl\\.pem beside ${escaped(caCert)}, or restore without a revocation check with --allow-missing-crl$`), { caCert });
  const unchecked = await restore(file, { caCert, allowMissingCrl: true });
  assert.match(unchecked.signedBy ?? '', /^member retired /, 'the revoked signer is not seen without a CRL: the operator said so');
  assert.equal(unchecked.revocation, `not checked: no CRL at ${crl} (--allow-missing-crl)`);

  await copyFile(ca.crl, crl);
  await refused(file, /its signer is not trusted: member retired's certificate \w+ is revoked/, { caCert });
  await refused(file, /is revoked/, { caCert, allowMissingCrl: true });
  const genuine = await restore(await sealedBy('checked', await signerFrom(ca.memberCert('m1'), ca.memberKey('m1'))), { caCert });
  assert.equal(genuine.revocation, `checked against CRL ${crl} (number ${await crlNumber(crl)})`);
});
