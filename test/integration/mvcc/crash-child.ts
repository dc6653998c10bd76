/**
 * Child process for the crash test: opens the store and applies batches forever, each batch an applied
 * index plus puts of every key to the same value (the index) and a delete of a marker key, printing
 * "applied <index>" after each batch is written. The parent kills it with SIGKILL at a random moment.
 * Usage: crash-child.ts <storeDir> <keyringDir> <keyFile> <keysPerBatch>
 */
import { keyFileKek, openKeyring } from '../../../src/crypto/index.ts';
import { MvccStore, type WriteOp } from '../../../src/storage/mvcc/index.ts';

const [storeDir, keyringDir, keyFile, keysArg] = process.argv.slice(2);
if (storeDir === undefined || keyringDir === undefined || keyFile === undefined || keysArg === undefined) {
  throw new Error('usage: crash-child.ts <storeDir> <keyringDir> <keyFile> <keysPerBatch>');
}
const keysPerBatch = Number(keysArg);
const encoder = new TextEncoder();
const keyring = await openKeyring({ dir: keyringDir, kek: await keyFileKek(keyFile), createIfMissing: false });
const store = await MvccStore.open({ dir: storeDir, sealer: keyring, storeId: 'crash-test' });
process.stdout.write(`opened ${store.appliedIndex()}\n`);
for (let index = store.appliedIndex() + 1; ; index++) {
  const ops: WriteOp[] = [];
  for (let k = 0; k < keysPerBatch; k++) {
    ops.push({ type: 'put', key: encoder.encode(`key/${k}`), value: encoder.encode(`value-${index}-`.padEnd(256, 'x')) });
  }
  ops.push({ type: 'put', key: encoder.encode(`marker/${index}`), value: encoder.encode('m') });
  ops.push({ type: 'deleteRange', key: encoder.encode(`marker/${index - 1}`) });
  if (index % 10 === 0) ops.push({ type: 'compact', revision: Math.max(1, store.currentRevision() - 5 * keysPerBatch) });
  await store.applyBatch(index, ops);
  process.stdout.write(`applied ${index}\n`);
}
