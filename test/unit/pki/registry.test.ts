import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IssuedRecord } from '../../../src/pki/index.ts';
import {
  emptyRegistry, parseRegistry, revokedRecords, withIssued, withNextCrlNumber, withRevoked,
} from '../../../src/pki/registry.ts';

const record = (serial: string, kind: IssuedRecord['kind'] = 'member'): IssuedRecord => ({
  serial, kind, name: 'm1', subject: 'CN=m1, O=coffer:members', notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2027-01-01T00:00:00.000Z',
});

test('issuing appends; a repeated serial is refused', () => {
  const r = withIssued(withIssued(emptyRegistry(), record('0a', 'ca')), record('0b'));
  assert.deepEqual(r.certificates.map((c) => c.serial), ['0a', '0b']);
  assert.throws(() => withIssued(r, record('0b')), { code: 'REGISTRY_CORRUPT' });
});

test('revoking marks the record once; revoking again keeps the first time and reports it', () => {
  const r0 = withIssued(withIssued(emptyRegistry(), record('0a', 'ca')), record('0b'));
  const first = withRevoked(r0, '0b', new Date('2026-02-01T00:00:00Z'));
  assert.equal(first.alreadyRevoked, false);
  assert.deepEqual(revokedRecords(first.registry).map((c) => c.serial), ['0b']);
  const second = withRevoked(first.registry, '0b', new Date('2026-03-01T00:00:00Z'));
  assert.equal(second.alreadyRevoked, true);
  assert.equal(second.record.revokedAt, '2026-02-01T00:00:00.000Z');
  assert.equal(r0.certificates[1]?.revokedAt, undefined, 'the input registry is not changed');
});

test('revoking an unknown serial or the CA itself is refused with a typed error', () => {
  const r = withIssued(emptyRegistry(), record('0a', 'ca'));
  assert.throws(() => withRevoked(r, '0c', new Date()), { code: 'UNKNOWN_SERIAL' });
  assert.throws(() => withRevoked(r, '0a', new Date()), { code: 'CANNOT_REVOKE_CA' });
});

test('the CRL number only grows', () => {
  assert.equal(withNextCrlNumber(withNextCrlNumber(emptyRegistry())).crlNumber, 2);
});

test('parseRegistry round-trips and refuses malformed files naming the path', () => {
  const r = withIssued(emptyRegistry(), record('0a'));
  assert.deepEqual(parseRegistry(JSON.stringify(r), 'x/issued.json'), r);
  assert.throws(() => parseRegistry('{', 'x/issued.json'), { code: 'REGISTRY_CORRUPT', message: /x\/issued\.json/ });
  assert.throws(() => parseRegistry('{"version":1,"crlNumber":0,"certificates":[{"serial":"ZZ"}]}', 'x/issued.json'), { code: 'REGISTRY_CORRUPT' });
});
