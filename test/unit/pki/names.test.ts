import assert from 'node:assert/strict';
import { test } from 'node:test';
import { certGroupsMax, certHostsMax } from '../../../src/config/index.ts';
import { checkGroups, checkMemberName, checkUserName, splitHosts } from '../../../src/pki/index.ts';

test('member names must be DNS labels', () => {
  for (const ok of ['m1', 'default', 'a', 'node-2']) assert.equal(checkMemberName(ok), ok);
  for (const bad of ['', 'M1', '-m', 'm-', 'a.b', 'a/b', '..', 'x'.repeat(64)]) {
    assert.throws(() => checkMemberName(bad), { code: 'INVALID_NAME' }, bad);
  }
});

test('user names exclude path separators, colons and dot-leading names', () => {
  for (const ok of ['admin', 'alice.smith', 'bob@example.com', 'ci-bot_1']) assert.equal(checkUserName(ok), ok);
  for (const bad of ['', '../etc', 'a/b', '.hidden', 'system:member:m1', 'sp ace', 'x'.repeat(129)]) {
    assert.throws(() => checkUserName(bad), { code: 'INVALID_NAME' }, bad);
  }
});

test('groups: members-only names are reserved, duplicates collapse, the count is bounded', () => {
  assert.deepEqual(checkGroups(['system:masters', 'dev', 'dev']), ['system:masters', 'dev']);
  assert.throws(() => checkGroups(['coffer:members']), { code: 'RESERVED_NAME' });
  assert.throws(() => checkGroups(['system:members']), { code: 'RESERVED_NAME' });
  assert.throws(() => checkGroups(['bad group']), { code: 'INVALID_NAME' });
  assert.throws(() => checkGroups(Array.from({ length: certGroupsMax + 1 }, (_, i) => `g${i}`)), { code: 'LIMIT_EXCEEDED' });
});

test('hosts split into DNS and IP SANs; junk, none and too many are refused', () => {
  assert.deepEqual(splitHosts(['127.0.0.1', 'LocalHost', '::1', 'a.example']), { dns: ['localhost', 'a.example'], ips: ['127.0.0.1', '::1'] });
  assert.throws(() => splitHosts([]), { code: 'INVALID_HOST' });
  assert.throws(() => splitHosts(['bad host']), { code: 'INVALID_HOST' });
  assert.throws(() => splitHosts(['https://x']), { code: 'INVALID_HOST' });
  assert.throws(() => splitHosts(Array.from({ length: certHostsMax + 1 }, (_, i) => `h${i}.example`)), { code: 'LIMIT_EXCEEDED' });
});
