// gRPC's length-prefixed messages as a stream delivers them: split anywhere, several per chunk.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frame, FrameReader, singleMessage } from '../../../src/etcdpb/index.ts';

test('messages come out whole however the bytes are chunked', () => {
  const messages = [Buffer.from('first'), Buffer.alloc(0), Buffer.from('a third, longer message')];
  const wire = Buffer.concat(messages.map(frame));
  for (let size = 1; size <= wire.length; size++) {
    const reader = new FrameReader();
    const out: string[] = [];
    for (let at = 0; at < wire.length; at += size) out.push(...reader.push(wire.subarray(at, at + size)).map((m) => Buffer.from(m).toString()));
    assert.deepEqual(out, messages.map(String), `chunks of ${size} bytes`);
    assert.equal(reader.idle, true);
  }
});

test('a partial message waits; a unary body must hold exactly one whole message', () => {
  const reader = new FrameReader();
  assert.deepEqual(reader.push(frame(Buffer.from('abc')).subarray(0, 6)), []);
  assert.equal(reader.idle, false);
  assert.equal(Buffer.from(singleMessage(frame(Buffer.from('one')))).toString(), 'one');
  assert.throws(() => singleMessage(frame(Buffer.from('cut')).subarray(0, 6)), /exactly one gRPC message/);
  assert.throws(() => singleMessage(Buffer.alloc(0)), /exactly one gRPC message/);
});

test('a message sent a byte per chunk costs time linear in its bytes: 1 MiB in 1-byte pushes is read in well under a second', () => {
  // Each push used to copy everything buffered so far: 400,000 one-byte pushes took 12.8 s of the event
  // loop (quadratic), the 1 MiB here about a minute. A bound far above the linear reader's time.
  const message = Buffer.alloc(1024 * 1024, 7);
  const wire = frame(message);
  const reader = new FrameReader();
  const out: Uint8Array[] = [];
  const started = process.hrtime.bigint();
  for (let at = 0; at < wire.length; at++) out.push(...reader.push(wire.subarray(at, at + 1)));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(out.length, 1);
  assert.equal(Buffer.compare(Buffer.from(out[0]!), message), 0);
  assert.ok(ms < 3000, `1 MiB in 1-byte pushes took ${ms.toFixed(0)} ms`);
});

test('a prefix refused for compression or size is refused as soon as its five bytes are in, however they arrive', () => {
  for (const prefix of [Buffer.from([1, 0, 0, 0, 1]), Buffer.from([0, 0xff, 0xff, 0xff, 0xff])]) {
    const reader = new FrameReader();
    for (let at = 0; at < 4; at++) assert.deepEqual(reader.push(prefix.subarray(at, at + 1)), []);
    assert.throws(() => reader.push(prefix.subarray(4)), prefix[0] === 1 ? /compressed/ : /request is too large/);
  }
});
