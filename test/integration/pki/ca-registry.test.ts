// The CA's registry (issued.json) and CRL (crl.pem) under writers running at once — in one process and
// in two — and when writing a certificate's files fails: every certificate whose files exist is in the
// registry and can be revoked, and no revocation is undone by an issue that read the registry before it.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import {
  caLayout, initCa, issueClient, issueMember, listIssued, loadCa, revokeCertificate, x509, type IssueResult,
} from '../../../src/pki/index.ts';
import { tempDir } from './tls-harness.ts';

const writerScript = fileURLToPath(new URL('./registry-writer.ts', import.meta.url));

async function crlSerials(dir: string): Promise<Set<string>> {
  const crl = new x509.X509Crl(await readFile(caLayout(dir).crl, 'utf8'));
  return new Set(crl.entries.map((e) => e.serialNumber.toLowerCase()));
}

async function revokedInRegistry(dir: string): Promise<Set<string>> {
  return new Set((await listIssued(dir)).filter((r) => r.revokedAt !== undefined).map((r) => r.serial));
}

test('issues and revokes running together: no revocation is undone, and every issued certificate is in the registry and can be revoked', async (t) => {
  const { dir, remove } = await tempDir('ca-registry');
  t.after(remove);
  const { signer } = await initCa({ dir });
  const toRevoke: string[] = [];
  for (const name of ['r1', 'r2', 'r3', 'r4']) toRevoke.push((await issueMember(signer, { name, hosts: ['127.0.0.1'] })).serial);

  const revokeInTurn = async () => {
    for (const serial of toRevoke) await revokeCertificate(signer, serial);
  };
  const issuing: Promise<IssueResult>[] = [
    ...['m1', 'm2', 'm3', 'm4'].map((name) => issueMember(signer, { name, hosts: ['127.0.0.1'] })),
    ...['u1', 'u2', 'u3', 'u4'].map((user) => issueClient(signer, { user, p12Password: 'test' })),
  ];
  const [, issued] = await Promise.all([revokeInTurn(), Promise.all(issuing)]);

  assert.deepEqual([...(await revokedInRegistry(dir))].sort(), [...toRevoke].sort(), 'every revocation survives the issues around it');
  assert.deepEqual([...(await crlSerials(dir))].sort(), [...toRevoke].sort(), 'crl.pem lists every revoked serial');
  const registered = new Set((await listIssued(dir)).map((r) => r.serial));
  for (const { serial } of issued) assert.ok(registered.has(serial), `issued.json records ${serial}`);

  // Revoking them all at once: each one lands, none undoes another.
  await Promise.all(issued.map(({ serial }) => revokeCertificate(signer, serial)));
  const everyRevoked = [...toRevoke, ...issued.map((i) => i.serial)].sort();
  assert.deepEqual([...(await crlSerials(dir))].sort(), everyRevoked);
  assert.deepEqual([...(await revokedInRegistry(dir))].sort(), everyRevoked);
  await assert.rejects(stat(caLayout(dir).lock), { code: 'ENOENT' }, 'the CA lock is released');
});

interface Writer {
  child: ChildProcess;
  lines: AsyncIterator<string>;
}

async function startWriter(dir: string, prefix: string, count: number): Promise<Writer> {
  const child = spawn(process.execPath, ['--import', 'tsx', writerScript, dir, prefix, String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  assert.deepEqual(await lines.next(), { value: 'ready', done: false });
  return { child, lines };
}

async function serialsOf(writer: Writer): Promise<string[]> {
  const exited = once(writer.child, 'exit');
  const serials: string[] = [];
  for (let line = await writer.lines.next(); line.done !== true; line = await writer.lines.next()) serials.push(line.value);
  assert.deepEqual(await exited, [0, null]);
  return serials;
}

test('two processes issuing while a third revokes: every serial they printed is in the registry, and every revocation stands', { timeout: 60_000 }, async (t) => {
  const { dir, remove } = await tempDir('ca-registry-processes');
  t.after(remove);
  const { signer } = await initCa({ dir });
  const toRevoke: string[] = [];
  for (const name of ['r1', 'r2', 'r3', 'r4', 'r5']) toRevoke.push((await issueMember(signer, { name, hosts: ['127.0.0.1'] })).serial);
  const perWriter = 10;
  const writers = await Promise.all([startWriter(dir, 'a', perWriter), startWriter(dir, 'b', perWriter)]);

  for (const { child } of writers) child.stdin?.end('go\n');
  const revokeInTurn = async () => {
    for (const serial of toRevoke) await revokeCertificate(signer, serial);
  };
  const [printed] = await Promise.all([Promise.all(writers.map(serialsOf)), revokeInTurn()]);

  const serials = printed.flat();
  assert.equal(serials.length, 2 * perWriter);
  const registered = new Set((await listIssued(dir)).map((r) => r.serial));
  for (const serial of serials) assert.ok(registered.has(serial), `issued.json records ${serial}`);
  assert.deepEqual([...(await revokedInRegistry(dir))].sort(), [...toRevoke].sort(), 'the revocations survive the other processes\' issues');
  await revokeCertificate(await loadCa(dir), serials[0] ?? '');
  assert.deepEqual([...(await crlSerials(dir))].sort(), [...toRevoke, serials[0]].sort());
});

test('a certificate is recorded before its files are written: when a later file cannot be written, the certificate on disk can be revoked', async (t) => {
  const { dir, remove } = await tempDir('ca-registry-order');
  t.after(remove);
  const { signer } = await initCa({ dir });
  // A directory where the .p12 goes — the last of the client's files — makes its write fail, as a full
  // disk or a crash would stop the command there.
  await mkdir(join(dir, 'clients', 'victim.p12'), { recursive: true });
  await assert.rejects(issueClient(signer, { user: 'victim', force: true, p12Password: 'test' }), { code: 'EISDIR' });

  const onDisk = new x509.X509Certificate(await readFile(caLayout(dir).clientCert('victim'), 'utf8'));
  const outcome = await revokeCertificate(signer, onDisk.serialNumber);
  assert.equal(outcome.record.name, 'victim');
  assert.ok((await crlSerials(dir)).has(onDisk.serialNumber.toLowerCase()));
});
