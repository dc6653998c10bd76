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
