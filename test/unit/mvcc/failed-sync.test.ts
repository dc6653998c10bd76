/**
 * A store whose fsync failed refuses every use until reopened: after a failed fdatasync the page cache
 * may hold writes that never reach the disk ("fsyncgate"), so serving reads or taking writes would
 * carry on from state the disk does not have. The simulator's replica host found a member answering
 * reads after MvccStore.syncToDisk failed with EIO (seed 1000, 3 nodes). Runs on the power-loss disk.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keyContentKek, openKeyring } from '../../../src/crypto/index.ts';
import { isMvccError, MvccStore } from '../../../src/storage/mvcc/index.ts';
import { type InjectedError, PowerLossDisk, PowerLossLevel, processOn } from '../../support/power-loss/index.ts';

const encoder = new TextEncoder();

test('after syncToDisk failed, the store refuses reads and writes', async () => {
  let failNextSync = false;
  const fault = (op: 'write' | 'datasync', file: string): InjectedError | undefined => {
    if (!failNextSync || op !== 'datasync' || !file.endsWith('/mvcc/LOG')) return undefined;
    failNextSync = false;
    return 'EIO';
  };
  const { fs } = processOn(new PowerLossDisk(), 1, fault);
  const keyring = await openKeyring({ dir: '/data', kek: keyContentKek(new Uint8Array(32).fill(3), 'test KEK'), fs });
  const store = await MvccStore.open({ dir: '/data/mvcc', sealer: keyring, storeId: 'm1/mvcc', openLevel: (dir) => new PowerLossLevel(fs, dir) });
  await store.applyBatch(1, [{ type: 'put', key: encoder.encode('k'), value: encoder.encode('v') }]);
  failNextSync = true;
  const failed = (error: unknown): boolean => isMvccError(error, 'E_FAILED');
  await assert.rejects(store.syncToDisk(), failed);
  await assert.rejects(store.range(encoder.encode('k')), failed);
  await assert.rejects(store.applyBatch(2, [{ type: 'put', key: encoder.encode('k'), value: encoder.encode('w') }]), failed);
});
