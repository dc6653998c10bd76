import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  clientIdentity, clientTemplate, memberIdentity, memberTemplate, splitHosts, verifyMemberClaim, x509,
} from '../../../src/pki/index.ts';
import { clientCert, der, memberCert, memoryCa, memoryLeaf } from './memory-ca.ts';

const ca = await memoryCa();

test('a client certificate maps to (CN user, O groups)', async () => {
  const cert = await clientCert(ca, 'alice', ['dev', 'system:masters']);
  assert.deepEqual(clientIdentity(der(cert)), { user: 'alice', groups: ['dev', 'system:masters'], kind: 'client' });
  assert.deepEqual(clientIdentity({ raw: Buffer.from(der(cert)) }), { user: 'alice', groups: ['dev', 'system:masters'], kind: 'client' });
});

test('a member certificate on the client port maps to system:member:<name> in system:members', async () => {
  const cert = await memberCert(ca, 'm1');
  assert.deepEqual(clientIdentity(der(cert)), { user: 'system:member:m1', groups: ['system:members'], kind: 'member' });
});

test('memberIdentity accepts a member certificate and names the member', async () => {
  assert.equal(memberIdentity(der(await memberCert(ca, 'm2'))), 'm2');
});

test('memberIdentity refuses a client certificate, even one in a group named like a member', async () => {
  const cert = await clientCert(ca, 'm1', ['dev']);
  assert.throws(() => memberIdentity(der(cert)), { code: 'NOT_A_MEMBER_CERT' });
});

test('memberIdentity refuses certificates that look like members but lack the URI SAN, carry another name, or lack serverAuth', async () => {
  const hosts = splitHosts(['127.0.0.1']);
  const noUri = await memoryLeaf(ca, (c) => {
    const t = memberTemplate({ ...c, name: 'm1', hosts });
    return { ...t, extensions: [...t.extensions.filter((e) => !(e instanceof x509.SubjectAlternativeNameExtension)), new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])] };
  });
  const otherUri = await memoryLeaf(ca, (c) => {
    const t = memberTemplate({ ...c, name: 'm1', hosts });
    const subject: x509.JsonName = [{ CN: ['m2'] }, { O: ['coffer:members'] }];
    return { ...t, subject };
  });
  const clientEku = await memoryLeaf(ca, (c) => {
    const t = memberTemplate({ ...c, name: 'm1', hosts });
    return { ...t, extensions: t.extensions.map((e) => (e instanceof x509.ExtendedKeyUsageExtension ? new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]) : e)) };
  });
  for (const cert of [noUri, otherUri, clientEku]) {
    assert.throws(() => memberIdentity(der(cert)), { code: 'NOT_A_MEMBER_CERT' });
  }
});

test('clientIdentity refuses a malformed certificate claiming the members organisation', async () => {
  const subject: x509.JsonName = [{ CN: ['mallory'] }, { O: ['coffer:members'] }];
  const forged = await memoryLeaf(ca, (c) => ({ ...clientTemplate({ ...c, user: 'mallory', groups: [] }), subject }));
  assert.throws(() => clientIdentity(der(forged)), { code: 'NOT_A_CLIENT_CERT' });
});

test('verifyMemberClaim accepts the named member and refuses another name', async () => {
  const cert = await memberCert(ca, 'm1');
  assert.equal(verifyMemberClaim(der(cert), 'm1'), 'm1');
  assert.throws(() => verifyMemberClaim(der(cert), 'm3'), { code: 'PEER_NAME_MISMATCH', message: /claims to be member "m3" but its certificate is member "m1"/ });
});

test('no certificate at all is refused, not crashed on', () => {
  assert.throws(() => clientIdentity({}), { code: 'NOT_A_CLIENT_CERT' });
  assert.throws(() => memberIdentity({ raw: new Uint8Array() }), { code: 'NOT_A_MEMBER_CERT' });
});
