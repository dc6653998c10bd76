import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeSerial, serialFromRandomBytes } from '../../../src/pki/index.ts';

test('serials from random bytes are lowercase hex without leading zero bytes', () => {
  const bytes = new Uint8Array(16);
  bytes[15] = 0xab;
  bytes[14] = 0x01;
  assert.equal(serialFromRandomBytes(bytes), '01ab');
  const high = new Uint8Array(16).fill(0xff);
  assert.equal(serialFromRandomBytes(high), 'ff'.repeat(16));
});

test('an all-zero draw is a broken invariant, not a serial', () => {
  assert.throws(() => serialFromRandomBytes(new Uint8Array(16)), /serial must not be zero/);
});

test('normalizeSerial accepts the forms people and tools print and yields the canonical form', () => {
  assert.equal(normalizeSerial('1C:24:C2:3E'), '1c24c23e');
  assert.equal(normalizeSerial('001c24'), '1c24');
  assert.equal(normalizeSerial('  0xABC '), '0abc');
  assert.equal(normalizeSerial('0abc'), '0abc');
});

test('normalizeSerial refuses non-hex, zero and absurdly long serials', () => {
  for (const bad of ['xyz', '', '00', 'f'.repeat(100)]) assert.throws(() => normalizeSerial(bad), { code: 'INVALID_NAME' }, bad);
});
