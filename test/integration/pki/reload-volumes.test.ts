// Hot reload where the files are not plain files in the directory watched: a Kubernetes Secret or
// ConfigMap volume (each name a link into a versioned directory that the kubelet swaps), a link into
// another directory (the CA's crl.pem), and a change no file event reports (a network volume, a link
// swapped in a directory not watched), which the periodic check catches. The revocation must reach the
// member each time: the revoked client's open connection closed, its next handshake refused.
import assert from 'node:assert/strict';
import { type EventEmitter, once } from 'node:events';
import { mkdir, mkdtemp, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../../src/base/index.ts';
import { tlsHeldCertificateCheckIntervalMs } from '../../../src/config/index.ts';
import {
  type CaSigner, caLayout, clientTlsOptions, loadTlsMaterial, revokeCertificate, type TlsFiles, type TlsMaterial, TlsReloader,
} from '../../../src/pki/index.ts';
import { attempt, type Attempt, caWithClients, clientFiles, memberFiles, startServer } from './tls-harness.ts';

/** How long a test waits for the reloader's event before it fails (the reload follows a change by tlsReloadDebounceMs). */
const eventWaitMs = 5_000;

let dir: string;
let remove: () => Promise<void>;
let signer: CaSigner;

before(async () => {
  ({ dir, remove, signer } = await caWithClients('volumes', ['eve', 'mallory', 'trudy']));
});

after(async () => {
  await remove();
});

function accepted(result: Attempt): asserts result is Extract<Attempt, { accepted: true }> {
  assert.equal(result.accepted, true, result.accepted ? '' : `refused: ${result.error}`);
}

/** The next `event` from `emitter`, or a failure naming what did not happen within eventWaitMs. */
async function next<T extends unknown[]>(emitter: EventEmitter, event: string, what: string): Promise<T> {
  try {
    return await once(emitter, event, { signal: AbortSignal.timeout(eventWaitMs) }) as T;
  } catch {
    return assert.fail(`no '${event}' within ${eventWaitMs} ms: ${what}`);
  }
}

/**
 * Writes `payload` into the volume at `mount` as the kubelet's atomic writer does
 * (pkg/volume/util/atomic_writer.go): the files into a new `..<UTC timestamp>.<random>` directory, a
 * `..data_tmp` link to it renamed over `..data`, a `name -> ..data/name` link per file (made once), the
 * previous version removed. No event in `mount` ever names one of the files.
 */
async function projectVolume(mount: string, payload: Record<string, string>): Promise<void> {
  await mkdir(mount, { recursive: true });
  const previous = await readlink(join(mount, '..data')).catch(() => undefined);
  const stamp = new Date().toISOString().replace(/[-T:]/g, '_').replace(/\..*$/, '');
  const version = await mkdtemp(join(mount, `..${stamp}.`));
  for (const [name, data] of Object.entries(payload)) await writeFile(join(version, name), data, { mode: 0o644 });
  await symlink(basename(version), join(mount, '..data_tmp'));
  await rename(join(mount, '..data_tmp'), join(mount, '..data'));
  if (previous === undefined) {
    for (const name of Object.keys(payload)) await symlink(join('..data', name), join(mount, name));
  } else {
    await rm(join(mount, previous), { recursive: true });
  }
}

const text = (path: string) => readFile(path, 'utf8');

/** m1's certificate, key and CA certificate copied into `conf` (so no file the member reads is in the CA's directory), and conf/crl.pem (not made). */
async function filesIn(conf: string): Promise<TlsFiles & { crl: string }> {
  const m1 = memberFiles(dir, 'm1');
  await mkdir(conf, { recursive: true });
  for (const [name, from] of [['m1.crt', m1.cert], ['m1.key', m1.key], ['ca.crt', m1.ca]] as const) await writeFile(join(conf, name), await text(from));
  return { cert: join(conf, 'm1.crt'), key: join(conf, 'm1.key'), ca: join(conf, 'ca.crt'), crl: join(conf, 'crl.pem') };
}
const asClient = async (user: string) => clientTlsOptions(await loadTlsMaterial(clientFiles(dir, user)));

/**
 * Serves `files` with watching on; connects `user`, revokes its certificate with the CA (as `coffer ca
 * revoke` does), lets `deliver` bring the new crl.pem to the member, and checks the revocation arrived:
 * the open connection closed, a new one refused.
 */
async function revocationReaches(files: TlsFiles, user: string, deliver: () => Promise<void>, clock?: ManualClock): Promise<void> {
  const reloader = await TlsReloader.open(files, clock === undefined ? {} : { clock });
  reloader.watch();
  const server = await startServer(reloader, 'client');
  try {
    const open = await attempt(server.port, await asClient(user));
    accepted(open);
    const serial = (await loadTlsMaterial(clientFiles(dir, user))).serial;

    const reloaded = next<[TlsMaterial]>(reloader, 'reloaded', `the CRL revoking ${user} was not loaded`);
    const closed = next<[number]>(reloader, 'connectionsClosed', `${user}'s open connection was not closed`);
    const ended = once(open.socket, 'close');
    await revokeCertificate(signer, serial);
    await deliver();
    if (clock !== undefined) clock.advance(tlsHeldCertificateCheckIntervalMs);
    const [[material], closedCount] = await Promise.all([reloaded, closed]);
    assert.ok(material.revokedSerials.has(serial), `the reloaded CRL revokes ${user}`);
    assert.deepEqual(closedCount, [1]);
    await ended;

    const refusal = server.nextRefusal();
    const again = await attempt(server.port, await asClient(user));
    assert.equal(again.accepted, false);
    assert.equal(await refusal, 'CERT_REVOKED');
  } finally {
    await server.close();
    reloader.close();
  }
}

test('a CRL in a ConfigMap volume and the certificates in a Secret volume, updated as the kubelet does, are reloaded', { timeout: 20_000 }, async () => {
  const m1 = memberFiles(dir, 'm1');
  const secret = join(dir, 'volumes', 'tls');
  const configMap = join(dir, 'volumes', 'crl');
  await projectVolume(secret, { 'tls.crt': await text(m1.cert), 'tls.key': await text(m1.key), 'ca.crt': await text(m1.ca) });
  await projectVolume(configMap, { 'crl.pem': await text(m1.crl) });
  const files = { cert: join(secret, 'tls.crt'), key: join(secret, 'tls.key'), ca: join(secret, 'ca.crt'), crl: join(configMap, 'crl.pem') };

  await revocationReaches(files, 'eve', async () => projectVolume(configMap, { 'crl.pem': await text(m1.crl) }));
});

test('a crl.pem that links to the CA\'s, rewritten there by a revocation, is reloaded', { timeout: 20_000 }, async () => {
  const conf = join(dir, 'linked');
  const files = await filesIn(conf);
  await symlink(caLayout(dir).crl, files.crl);

  await revocationReaches(files, 'mallory', () => Promise.resolve());
});

test('a change no file event reports (a link swapped in a directory not watched) is loaded by the periodic check', { timeout: 20_000 }, async () => {
  // conf/crl.pem -> ../pki/current/crl.pem, pki/current -> v1: the swap of `current` happens in pki/,
  // which is neither crl.pem's directory nor the one it resolves to; a network volume is as quiet.
  const conf = join(dir, 'quiet', 'conf');
  const pki = join(dir, 'quiet', 'pki');
  const files = await filesIn(conf);
  await mkdir(join(pki, 'v1'), { recursive: true });
  await writeFile(join(pki, 'v1', 'crl.pem'), await text(caLayout(dir).crl));
  await symlink('v1', join(pki, 'current'));
  await symlink('../pki/current/crl.pem', files.crl);
  const clock = new ManualClock(Date.now());

  await revocationReaches(files, 'trudy', async () => {
    await mkdir(join(pki, 'v2'));
    await writeFile(join(pki, 'v2', 'crl.pem'), await text(caLayout(dir).crl));
    await symlink('v2', join(pki, 'current_tmp'));
    await rename(join(pki, 'current_tmp'), join(pki, 'current'));
  }, clock);
});

test('a check that finds every file as loaded reloads nothing and emits nothing', async () => {
  const clock = new ManualClock(Date.now());
  const reloader = await TlsReloader.open(memberFiles(dir, 'm1'), { clock });
  reloader.watch();
  let reloads = 0;
  const failures: Error[] = [];
  reloader.on('reloaded', () => { reloads++; });
  reloader.on('reloadFailed', (error) => failures.push(error));
  clock.advance(tlsHeldCertificateCheckIntervalMs);
  await reloader.reload(); // runs after the check's re-read, and reloads on demand whatever the files hold
  assert.equal(reloads, 1, 'only reload() reloaded');
  assert.deepEqual(failures, []);
  reloader.close();
});
