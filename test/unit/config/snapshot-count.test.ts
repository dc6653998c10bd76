// --snapshot-count and --snapshot-catch-up-entries (etcd's knobs for WAL compaction): defaults, values,
// and a bad value refused with the key named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseServerConfig, ServerConfigError, snapshotCatchUpEntries, snapshotEntriesMax, snapshotEveryEntries } from '../../../src/config/index.ts';

const base = {
  name: 'm1', dataDir: 'data/m1', listenClient: 'https://127.0.0.1:7443', listenPeer: 'https://127.0.0.1:7444',
  cert: 'm1.crt', key: 'm1.key', cacert: 'ca.crt', unsealKeyFile: 'unseal.key',
};

test('WAL compaction defaults to every 10,000 entries keeping 5,000, and takes other values', () => {
  const defaults = parseServerConfig(base, {});
  assert.equal(defaults.snapshotCount, snapshotEveryEntries);
  assert.equal(defaults.snapshotCatchUpEntries, snapshotCatchUpEntries);
  const set = parseServerConfig({ ...base, snapshotCount: '200', snapshotCatchUpEntries: '0' }, {});
  assert.equal(set.snapshotCount, 200);
  assert.equal(set.snapshotCatchUpEntries, 0);
});

test('a snapshot count that is not a whole number of entries in range is refused, naming the key', () => {
  for (const [key, value] of [['snapshotCount', '0'], ['snapshotCount', '1.5'], ['snapshotCatchUpEntries', '-1'], ['snapshotCount', String(snapshotEntriesMax + 1)]] as const) {
    assert.throws(() => parseServerConfig({ ...base, [key]: value }, {}), (error: unknown) => error instanceof ServerConfigError && error.message.startsWith(`config ${key}:`));
  }
});
