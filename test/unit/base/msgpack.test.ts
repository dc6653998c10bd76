import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMsgpack, decodeMsgpackCopy, encodeMsgpack } from '../../../src/base/index.ts';

const sample = { name: 'a', bytes: new Uint8Array([1, 2, 3]), list: [0, -1, 2 ** 32, 0.5, true, null] };

test('a value round-trips with maps as plain objects and byte strings as bytes', () => {
  for (const decode of [decodeMsgpack, decodeMsgpackCopy]) {
    const back = decode(encodeMsgpack(sample)) as typeof sample;
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.deepEqual({ ...back, bytes: [...back.bytes] }, { ...sample, bytes: [1, 2, 3] });
  }
});

test('a copying decode keeps byte strings when the input is wiped; a plain decode returns views of it', () => {
  const encoded = new Uint8Array(encodeMsgpack(sample));
  const copied = decodeMsgpackCopy(encoded) as typeof sample;
  const viewed = decodeMsgpack(encoded) as typeof sample;
  encoded.fill(0);
  assert.deepEqual([...copied.bytes], [1, 2, 3]);
  assert.deepEqual([...viewed.bytes], [0, 0, 0]);
});

test('truncated input throws', () => {
  for (const decode of [decodeMsgpack, decodeMsgpackCopy]) {
    assert.throws(() => decode(new Uint8Array([0x92, 0x01])), /Unexpected end/);
    assert.throws(() => decode(new Uint8Array([0xc4, 0x05, 0x01])), /Unexpected end/);
  }
});
