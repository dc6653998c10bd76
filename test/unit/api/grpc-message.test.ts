// grpc-message as the gRPC HTTP/2 protocol spells it: printable ASCII but '%' as it is, every other byte
// of the UTF-8 message as %XX. Clients match etcd's messages on the decoded text, and grpc-js decodes
// with decodeURI, which leaves an escaped ':' or '/' as it came — so those must not be escaped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grpcMessageValue } from '../../../src/api/grpc/status.ts';

test('printable ASCII stays as it is, so etcd\'s messages arrive whole through grpc-js', () => {
  const message = 'etcdserver: requested lease not found (a/b?c=d&e #1)';
  assert.equal(grpcMessageValue(message), message);
  assert.equal(decodeURI(grpcMessageValue(message)), message);
});

test('\'%\', control characters and non-ASCII become %XX of their UTF-8 bytes, and decode back', () => {
  const message = '100% sure\nkey “é” ✓';
  const value = grpcMessageValue(message);
  assert.equal(value, '100%25 sure%0Akey %E2%80%9C%C3%A9%E2%80%9D %E2%9C%93');
  assert.match(value, /^[\x20-\x7e]*$/);
  assert.equal(decodeURIComponent(value), message);
});
