import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toStatus } from '../../../src/api/k8s/status.ts';
import { MvccError } from '../../../src/storage/mvcc/index.ts';

test('a store limit becomes a 413 Status carrying the store\'s own message, whichever limit it was', () => {
  for (const message of ['value of 1600000 bytes exceeds valueBytesMax (1572864)', 'watchers would exceed watchersMax (10000)']) {
    const s = toStatus(new MvccError('E_LIMIT', message));
    assert.equal(s.code, 413);
    assert.equal(s.reason, 'RequestEntityTooLarge');
    assert.equal(s.message, message);
  }
});
