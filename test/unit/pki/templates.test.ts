import assert from 'node:assert/strict';
import { test } from 'node:test';
import { certBackdateMs } from '../../../src/config/index.ts';
import { caTemplate, clientTemplate, memberTemplate, splitHosts, validityFor, x509 } from '../../../src/pki/index.ts';

const dayMs = 86_400_000;
const common = {
  serialNumber: '0badc0ffee',
  validity: validityFor(1_700_000_000_000, 10),
  subjectKeyId: 'aa'.repeat(20),
  authorityKeyId: 'bb'.repeat(20),
};

test('validityFor starts certBackdateMs before now and lasts the given days', () => {
  const v = validityFor(1_700_000_000_000, 10);
  assert.equal(v.notBefore.getTime(), 1_700_000_000_000 - certBackdateMs);
  assert.equal(v.notAfter.getTime(), 1_700_000_000_000 + 10 * dayMs);
});

test('validityFor rounds down to whole seconds, the resolution certificates store', () => {
  const v = validityFor(1_700_000_000_999, 1);
  assert.equal(v.notBefore.getTime() % 1000, 0);
  assert.equal(v.notAfter.getTime(), 1_700_000_000_000 + dayMs);
});

test('validityFor refuses zero, fractional and over-long validity with INVALID_VALIDITY', () => {
  for (const days of [0, -1, 1.5, 100_000]) {
    assert.throws(() => validityFor(0, days), { code: 'INVALID_VALIDITY' });
  }
});

test('CA template: critical basicConstraints cA with pathLen 0, critical keyCertSign+cRLSign, subject key id', () => {
  const t = caTemplate({ ...common, commonName: 'Coffer CA' });
  const bc = t.extensions.find((e): e is x509.BasicConstraintsExtension => e instanceof x509.BasicConstraintsExtension);
  assert.ok(bc);
  assert.equal(bc.ca, true);
  assert.equal(bc.pathLength, 0);
  assert.equal(bc.critical, true);
  const ku = t.extensions.find((e): e is x509.KeyUsagesExtension => e instanceof x509.KeyUsagesExtension);
  assert.ok(ku);
  assert.equal(ku.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  assert.equal(ku.critical, true);
  const ski = t.extensions.find((e): e is x509.SubjectKeyIdentifierExtension => e instanceof x509.SubjectKeyIdentifierExtension);
  assert.equal(ski?.keyId, common.subjectKeyId);
  assert.deepEqual(t.subject, [{ CN: ['Coffer CA'] }, { O: ['coffer'] }]);
});

test('member template: CN=name, O=coffer:members, serverAuth+clientAuth, DNS+IP SANs and the member URI', () => {
  const t = memberTemplate({ ...common, name: 'm1', hosts: splitHosts(['127.0.0.1', 'localhost', '::1', 'node1.example']) });
  assert.deepEqual(t.subject, [{ CN: ['m1'] }, { O: ['coffer:members'] }]);
  const eku = t.extensions.find((e): e is x509.ExtendedKeyUsageExtension => e instanceof x509.ExtendedKeyUsageExtension);
  assert.deepEqual(eku?.usages, [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
  const san = t.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
  assert.deepEqual(san?.names.toJSON(), [
    { type: 'dns', value: 'localhost' },
    { type: 'dns', value: 'node1.example' },
    { type: 'ip', value: '127.0.0.1' },
    { type: 'ip', value: '::1' },
    { type: 'url', value: 'coffer://member/m1' },
  ]);
  const bc = t.extensions.find((e): e is x509.BasicConstraintsExtension => e instanceof x509.BasicConstraintsExtension);
  assert.equal(bc?.ca, false);
  const ku = t.extensions.find((e): e is x509.KeyUsagesExtension => e instanceof x509.KeyUsagesExtension);
  assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature);
  const aki = t.extensions.find((e): e is x509.AuthorityKeyIdentifierExtension => e instanceof x509.AuthorityKeyIdentifierExtension);
  assert.equal(aki?.keyId, common.authorityKeyId);
});

test('client template: CN=user, one O RDN per group, clientAuth only, no SAN', () => {
  const t = clientTemplate({ ...common, user: 'alice', groups: ['dev', 'system:masters'] });
  assert.deepEqual(t.subject, [{ CN: ['alice'] }, { O: ['dev'] }, { O: ['system:masters'] }]);
  const eku = t.extensions.find((e): e is x509.ExtendedKeyUsageExtension => e instanceof x509.ExtendedKeyUsageExtension);
  assert.deepEqual(eku?.usages, [x509.ExtendedKeyUsage.clientAuth]);
  assert.equal(t.extensions.some((e) => e instanceof x509.SubjectAlternativeNameExtension), false);
});

test('templates are pure: the same input gives the same encoded extensions', () => {
  const a = memberTemplate({ ...common, name: 'm2', hosts: splitHosts(['10.0.0.2']) });
  const b = memberTemplate({ ...common, name: 'm2', hosts: splitHosts(['10.0.0.2']) });
  assert.deepEqual(a.extensions.map((e) => Buffer.from(e.rawData).toString('hex')), b.extensions.map((e) => Buffer.from(e.rawData).toString('hex')));
  assert.equal(a.notAfter.getTime(), b.notAfter.getTime());
});
