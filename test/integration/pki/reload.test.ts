// Hot reload: material replaced on disk while a server runs reaches new handshakes through the file
// watcher; connections already open keep working; a bad replacement leaves the old material in use.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { runCli } from '../../../src/cli/index.ts';
import { bootstrapCa, clientTlsOptions, loadTlsMaterial, type TlsMaterial, TlsReloader } from '../../../src/pki/index.ts';
import { attempt, type Attempt, clientFiles, echo, memberFiles, startServer, tempDir, type TestServer } from './tls-harness.ts';

let dir: string;
let remove: () => Promise<void>;
let reloader: TlsReloader;
let server: TestServer;

function accepted(result: Attempt): asserts result is Extract<Attempt, { accepted: true }> {
  assert.equal(result.accepted, true, result.accepted ? '' : `refused: ${result.error}`);
}

/** Resolves when the reloader has loaded material whose serial differs from `oldSerial`. */
function reloadedAwayFrom(oldSerial: string): Promise<TlsMaterial> {
  return new Promise((resolve) => {
    const onReloaded = (material: TlsMaterial) => {
      if (material.serial === oldSerial) return;
      reloader.off('reloaded', onReloaded);
      resolve(material);
    };
    reloader.on('reloaded', onReloaded);
  });
}

const quietIo = { out: () => undefined, err: () => undefined, env: {} };

before(async () => {
  ({ dir, remove } = await tempDir('reload'));
  await bootstrapCa({ dir, members: ['m1', 'm2'], p12Password: 'test' });
  reloader = await TlsReloader.open(memberFiles(dir, 'm1'));
  reloader.watch();
  server = await startServer(reloader, 'client');
});

after(async () => {
  await server.close();
  reloader.close();
  await remove();
});

test('a member certificate re-issued on disk is used for new connections; an open connection keeps working', { timeout: 20_000 }, async () => {
  const admin = clientTlsOptions(await loadTlsMaterial(clientFiles(dir, 'admin')));
  const oldSerial = reloader.material.serial;
  const open = await attempt(server.port, admin);
  accepted(open);
  assert.equal(open.serverSerial, oldSerial);

  const reloaded = reloadedAwayFrom(oldSerial);
  const status = await runCli(['ca', 'issue', '--member', 'm1', '--host', '127.0.0.1', '--force', '--dir', dir], quietIo);
  assert.equal(status, 0);
  const material = await reloaded;
  assert.equal(material.serial, (await loadTlsMaterial(memberFiles(dir, 'm1'))).serial);

  const fresh = await attempt(server.port, admin);
  accepted(fresh);
  assert.equal(fresh.serverSerial, material.serial);
  assert.notEqual(fresh.serverSerial, oldSerial);

  assert.equal(await echo(open.socket, 'still here'), 'still here');
  assert.equal(open.socket.getPeerCertificate().serialNumber.toLowerCase(), oldSerial);
  open.socket.destroy();
  fresh.socket.destroy();
});

test('a replacement key that does not match the certificate is reported and the old material stays', { timeout: 20_000 }, async () => {
  const before = reloader.material.serial;
  const failed = once(reloader, 'reloadFailed') as Promise<[Error & { code?: string }]>;
  await copyFile(`${dir}/members/m2.key`, `${dir}/members/m1.key`);
  const [error] = await failed;
  assert.equal(error.code, 'KEY_MISMATCH');
  assert.match(error.message, /^key .*m1\.key does not match certificate .*m1\.crt$/);
  assert.equal(reloader.material.serial, before);

  const result = await attempt(server.port, clientTlsOptions(await loadTlsMaterial(clientFiles(dir, 'admin'))));
  accepted(result);
  assert.equal(result.serverSerial, before);
  result.socket.destroy();
});

test('reload() (the SIGHUP path) rejects with the load error and keeps serving the old material', async () => {
  const before = reloader.material.serial;
  await assert.rejects(reloader.reload(), { code: 'KEY_MISMATCH' });
  assert.equal(reloader.material.serial, before);
});
