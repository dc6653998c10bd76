import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CofferError } from '../../../src/base/index.ts';

class DiskError extends CofferError {
  readonly code = 'E_DISK';
}

class FullDiskError extends DiskError {}

class HttpishError extends CofferError {
  constructor(readonly code: 404 | 409, message: string) {
    super(message);
  }
}

test('an error is named after its own class, also through a subclass that declares nothing', () => {
  const error = new FullDiskError('disk full');
  assert.equal(error.name, 'FullDiskError');
  assert.equal(error.message, 'disk full');
  assert.equal(String(error), 'FullDiskError: disk full');
  assert.ok(error instanceof DiskError && error instanceof CofferError && error instanceof Error);
  assert.equal(new DiskError('x').name, 'DiskError');
});

test('the code is the stable identifier a subclass declares, a string or a number', () => {
  assert.equal(new FullDiskError('x').code, 'E_DISK');
  assert.equal(new HttpishError(409, 'taken').code, 409);
});

test('the cause is kept when given and absent otherwise', () => {
  const underneath = new Error('EIO');
  assert.equal(new DiskError('write failed', { cause: underneath }).cause, underneath);
  assert.equal('cause' in new DiskError('write failed'), false);
});
