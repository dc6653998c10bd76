// Files an earlier Coffer wrote (test/fixtures/format-v1/files, see generate.ts there) still open and
// decode to the values they were written from: the WAL with its commands, the MVCC store, the backup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyFileKek, type Keyring, openKeyring } from '../../../src/crypto/index.ts';
import { decodeCommand } from '../../../src/replication/command.ts';
import { openBackup } from '../../../src/storage/backup/index.ts';
import { MvccStore, type SnapshotRecord } from '../../../src/storage/mvcc/index.ts';
import { Wal } from '../../../src/storage/wal/index.ts';
import { formatV1 } from '../../fixtures/format-v1/expected.ts';
import { raftErrors } from '../wal/helpers.ts';

const files = fileURLToPath(new URL('../../fixtures/format-v1/files/', import.meta.url));
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

interface Opened {
  dir: string;
  keyring: Keyring;
  /** Runs `close` at the end of the test, before the keyring and the directory go. */
  closeLater: (close: () => unknown) => void;
}

/** A writable copy of the fixture files (opening a store may write to it) and its keyring. */
async function copyOfFixture(t: { after(fn: () => Promise<void>): void }): Promise<Opened> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffer-format-v1-'));
  const closers: Array<() => unknown> = [() => rm(dir, { recursive: true, force: true })];
  t.after(async () => {
    for (const close of closers.reverse()) await close();
  });
  await cp(files, dir, { recursive: true });
  // git keeps no file modes but the executable bit, and a key file must be readable by its owner only.
  await chmod(path.join(dir, 'unseal.key'), 0o600);
  const keyring = await openKeyring({ dir: path.join(dir, 'keyring'), kek: await keyFileKek(path.join(dir, 'unseal.key')) });
  closers.push(() => keyring.close());
  return { dir, keyring, closeLater: (close) => closers.push(close) };
}

/** Bytes as text, so values compare whatever Uint8Array subclass the decoder returned. */
function readable(value: unknown): unknown {
  if (value instanceof Uint8Array) return text(value);
  if (Array.isArray(value)) return value.map(readable);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, readable(v)]));
  return value;
}

test('a WAL written by format v1 replays its state, snapshot marker and entries, and the entries decode to their commands', async (t) => {
  const { dir, keyring, closeLater } = await copyOfFixture(t);
  const wal = await Wal.open({ dir: path.join(dir, 'wal'), sealer: keyring, storeId: formatV1.walStoreId, raftErrors });
  closeLater(() => wal.close());
  assert.deepEqual(wal.initialState(), { hardState: formatV1.hardState, confState: formatV1.confState });
  const snapshot = wal.snapshot();
  assert.deepEqual(snapshot.metadata, formatV1.snapshot);
  assert.equal(text(snapshot.data), text(formatV1.snapshotData));
  const first = formatV1.snapshot.index + 1;
  assert.equal(wal.firstIndex(), first);
  assert.equal(wal.lastIndex(), formatV1.snapshot.index + formatV1.commands.length);
  const entries = wal.entries(first, wal.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
  assert.deepEqual(entries.map((e) => [e.index, e.term, e.type]), formatV1.commands.map((_, i) => [first + i, formatV1.hardState.term, 'normal']));
  assert.deepEqual(entries.map((e) => readable(decodeCommand(e.data))), formatV1.commands.map(readable));
});

test('an MVCC store written by format v1 opens with its counters and serves current and past revisions', async (t) => {
  const { dir, keyring, closeLater } = await copyOfFixture(t);
  const store = await MvccStore.open({ dir: path.join(dir, 'mvcc'), sealer: keyring, storeId: formatV1.mvccStoreId });
  closeLater(() => store.close());
  assert.equal(store.appliedIndex(), formatV1.snapshot.index + 1);
  assert.equal(store.currentRevision(), formatV1.commands.length, 'one revision per command');
  const all = new TextEncoder().encode('/registry/');
  const end = new TextEncoder().encode('/registry0');
  const now = await store.range(all, end);
  assert.deepEqual(now.kvs.map((kv) => [text(kv.key), text(kv.value), kv.createRevision, kv.modRevision, kv.version]),
    [['/registry/secrets/default/db', 's3cr3t-value-two', 1, 3, 2]]);
  const before = await store.range(all, end, { revision: 2 });
  assert.deepEqual(before.kvs.map((kv) => [text(kv.key), text(kv.value)]),
    [['/registry/configmaps/default/app', '{"mode":"blue"}'], ['/registry/secrets/default/db', 's3cr3t-value-one']]);
});

test('a backup written by format v1 opens with its passphrase and yields the records the store exports', async (t) => {
  const { dir, keyring, closeLater } = await copyOfFixture(t);
  const store = await MvccStore.open({ dir: path.join(dir, 'mvcc'), sealer: keyring, storeId: formatV1.mvccStoreId });
  closeLater(() => store.close());
  const exported: SnapshotRecord[] = [];
  for await (const record of store.exportSnapshot()) exported.push(record);
  const backup = await openBackup(path.join(dir, 'backup.cbk'), new TextEncoder().encode(formatV1.backupPassphrase));
  closeLater(() => backup.close());
  const restored: SnapshotRecord[] = [];
  for await (const record of backup.records()) restored.push(record);
  assert.equal(backup.header.sourceClusterId, formatV1.clusterId);
  assert.equal(backup.header.records, exported.length);
  assert.deepEqual(readable(restored), readable(exported));
  assert.match(backup.integrityHash() ?? '', /^[0-9a-f]{64}$/);
});
