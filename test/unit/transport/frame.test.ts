import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeFrame, FrameDecoder, FrameTooLargeError } from '../../../src/transport/index.ts';

test('frames cut at arbitrary points come back whole and in order', () => {
  fc.assert(fc.property(
    fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
    fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 10 }),
    (payloads, cuts) => {
      const stream = Buffer.concat(payloads.map((p) => encodeFrame(p)));
      const decoder = new FrameDecoder();
      const received: Buffer[] = [];
      let offset = 0;
      for (let i = 0; offset < stream.length; i++) {
        const size = cuts[i % cuts.length] ?? 1;
        received.push(...decoder.push(stream.subarray(offset, offset + size)));
        offset += size;
      }
      assert.deepEqual(received.map((b) => [...b]), payloads.map((p) => [...p]));
      assert.equal(decoder.bufferedBytes(), 0);
    },
  ));
});

test('a frame announcing more than the limit is refused before it is buffered', () => {
  const decoder = new FrameDecoder(1024);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(1025, 0);
  assert.throws(() => decoder.push(header), (error: unknown) =>
    error instanceof FrameTooLargeError && /1025 bytes exceeds frameBytesMax \(1024 bytes\)/.test(error.message));
});

test('encoding a payload over the limit is refused', () => {
  assert.throws(() => encodeFrame(new Uint8Array(11), 10), FrameTooLargeError);
});
