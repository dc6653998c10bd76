import assert from 'node:assert/strict';
import { chmod, chown, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  createKeyFile, keyFileKek, keyringFileName, KmsError, kmsKek, openKeyring, RecordKind, SealedError,
} from '../../../src/crypto/index.ts';
import { tempDir } from '../../unit/crypto/helpers.ts';
import { startKmsPlugin, startTamperingProxy } from './kms-plugin-process.ts';

const position = { storeId: 's', kind: RecordKind.walEntry, index: 1, sub: 0 };

test('a keyring sealed by the reference KMS plugin reopens through it and records the key id', async (t) => {
  const dir = await tempDir(t);
  const plugin = await startKmsPlugin(dir, 'kms', 'key-A');
  t.after(() => plugin.stop());
  const data = path.join(dir, 'data');
  const keyring = await openKeyring({ dir: data, kek: kmsKek({ socketPath: plugin.socketPath }) });
  const page = keyring.seal(new TextEncoder().encode('via kms'), position);
  assert.equal(keyring.status().kekSource, 'kms');
  assert.equal(keyring.status().kmsKeyId, 'key-A');
  await keyring.close();
  const reopened = await openKeyring({ dir: data, kek: kmsKek({ socketPath: plugin.socketPath }) });
  assert.equal(new TextDecoder().decode(reopened.open(page, position)), 'via kms');
  await reopened.close();
});

test('a KMS plugin holding another key cannot unseal the keyring', async (t) => {
  const dir = await tempDir(t);
  const right = await startKmsPlugin(dir, 'right', 'same-id');
  const wrong = await startKmsPlugin(dir, 'wrong', 'same-id');
  t.after(() => Promise.all([right.stop(), wrong.stop()]).then(() => {}));
  const data = path.join(dir, 'data');
  const keyring = await openKeyring({ dir: data, kek: kmsKek({ socketPath: right.socketPath }) });
  await keyring.close();
  await assert.rejects(openKeyring({ dir: data, kek: kmsKek({ socketPath: wrong.socketPath }) }), /^SealedError: cannot unseal: KMS plugin/);
});

test('an unreachable KMS plugin is a KmsError naming the socket', async (t) => {
  const dir = await tempDir(t);
  const socketPath = path.join(dir, 'nobody.sock');
  await assert.rejects(openKeyring({ dir: path.join(dir, 'data'), kek: kmsKek({ socketPath }) }), (error: unknown) => {
    assert.ok(error instanceof KmsError);
    assert.ok(error.message.includes(socketPath));
    return true;
  });
});

test('a KEK rotation moves a keyring from a key file to the KMS plugin and back', async (t) => {
  const dir = await tempDir(t);
  const plugin = await startKmsPlugin(dir, 'kms');
  t.after(() => plugin.stop());
  const keyFile = path.join(dir, 'k.key');
  await createKeyFile(keyFile);
  const data = path.join(dir, 'data');
  const keyring = await openKeyring({ dir: data, kek: await keyFileKek(keyFile) });
  const page = keyring.seal(new Uint8Array([1, 2, 3]), position);
  await keyring.rotateKek(kmsKek({ socketPath: plugin.socketPath }));
  await keyring.close();
  await assert.rejects(openKeyring({ dir: data, kek: await keyFileKek(keyFile) }), SealedError);
  const viaKms = await openKeyring({ dir: data, kek: kmsKek({ socketPath: plugin.socketPath }) });
  assert.deepEqual([...viaKms.open(page, position)], [1, 2, 3]);
  await viaKms.rotateKek(await keyFileKek(keyFile));
  await viaKms.close();
  const back = await openKeyring({ dir: data, kek: await keyFileKek(keyFile) });
  assert.deepEqual([...back.open(page, position)], [1, 2, 3]);
  await back.close();
});

test('a KMS plugin that answers a wrap with a wrapping of something else is refused, naming it, and the keyring stays as it was', async (t) => {
  const dir = await tempDir(t);
  const plugin = await startKmsPlugin(dir, 'kms', 'key-A');
  const proxy = await startTamperingProxy(path.join(dir, 'proxy.sock'), plugin.socketPath);
  t.after(() => Promise.all([proxy.stop(), plugin.stop()]).then(() => {}));
  const kek = kmsKek({ socketPath: proxy.socketPath });
  const roundTrip = new RegExp(`^KeyringError: KMS plugin at ${proxy.socketPath} did not round-trip DEK`);

  proxy.tamper = true;
  const fresh = path.join(dir, 'fresh');
  await assert.rejects(openKeyring({ dir: fresh, kek }), roundTrip);
  assert.deepEqual(await readdir(fresh).catch(() => []), [], 'no keyring written');

  proxy.tamper = false;
  const data = path.join(dir, 'data');
  const keyring = await openKeyring({ dir: data, kek });
  const page = keyring.seal(new TextEncoder().encode('kept'), position);
  const before = await readFile(path.join(data, keyringFileName));
  proxy.tamper = true;
  await assert.rejects(keyring.rotateDek(), roundTrip);
  assert.equal(keyring.activeDekId(), 1);
  assert.deepEqual(await readFile(path.join(data, keyringFileName)), before);
  proxy.tamper = false;
  await keyring.close();
  const reopened = await openKeyring({ dir: data, kek: kmsKek({ socketPath: plugin.socketPath }) });
  assert.equal(new TextDecoder().decode(reopened.open(page, position)), 'kept');
  assert.equal(reopened.activeDekId(), 1);
  await reopened.close();
});

/** Another local user ("nobody"): giving them a file takes root, as the suite runs here and in CI. */
const otherUid = 65534;
const isRoot = process.geteuid?.() === 0;
const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('the KMS socket is refused unless only this user or root can have put it there: the socket, its directory and those above', async (t) => {
  const dir = await tempDir(t);
  const shared = path.join(dir, 'shared');
  await mkdir(shared, { mode: 0o700 });
  const plugin = await startKmsPlugin(shared, 'kms');
  t.after(() => plugin.stop());
  const socketPath = plugin.socketPath;
  const use = async (socket = socketPath): Promise<void> => (await openKeyring({ dir: path.join(dir, 'data'), kek: kmsKek({ socketPath: socket }) })).close();
  const refused = (socket: string, why: string) => (error: unknown) => {
    assert.ok(error instanceof KmsError, String(error));
    assert.match(error.message, new RegExp(`^refusing KMS plugin socket ${escaped(socket)}: ${why}`));
    return true;
  };

  await use();
  await chmod(shared, 0o777);
  await assert.rejects(use(), refused(socketPath, `${escaped(shared)} has mode 0777: others may write to it and it is not sticky`));
  await chmod(shared, 0o1777);
  await use(); // sticky, as /tmp: others cannot take away or rename what is not theirs
  await chmod(shared, 0o700);
  await chmod(dir, 0o770);
  await assert.rejects(use(), refused(socketPath, `${escaped(dir)} has mode 0770`), 'a directory above is checked too');
  await chmod(dir, 0o700);

  const file = path.join(dir, 'file.sock');
  await writeFile(file, '');
  await assert.rejects(use(file), refused(file, 'it is not a socket but a regular file'));
  const link = path.join(dir, 'link.sock');
  await symlink(socketPath, link);
  await assert.rejects(use(link), refused(link, 'it is not a socket but a symbolic link'));
  await use();
});

test('a KMS socket or a directory above it that belongs to another user is refused', { skip: !isRoot && 'chown takes root' }, async (t) => {
  const dir = await tempDir(t);
  const shared = path.join(dir, 'shared');
  await mkdir(shared, { mode: 0o755 });
  const plugin = await startKmsPlugin(shared, 'kms');
  t.after(() => plugin.stop());
  const use = async (): Promise<void> => (await openKeyring({ dir: path.join(dir, 'data'), kek: kmsKek({ socketPath: plugin.socketPath }) })).close();
  const prefix = `^KmsError: refusing KMS plugin socket ${escaped(plugin.socketPath)}: `;

  await chown(plugin.socketPath, otherUid, otherUid);
  await assert.rejects(use(), new RegExp(`${prefix}it belongs to uid ${otherUid}, neither this user \\(uid 0\\) nor root`));
  await chown(plugin.socketPath, 0, 0);
  await chown(shared, otherUid, otherUid);
  await assert.rejects(use(), new RegExp(`${prefix}${escaped(shared)} belongs to uid ${otherUid}, neither this user \\(uid 0\\) nor root`));
  await chown(shared, 0, 0);
  await use();
});
