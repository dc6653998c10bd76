// The member-change rule every member applies at the same log index (changedMember): a name binds an
// unnamed slot once and never renames, never takes a name another member holds, and a peer URL never
// lands on another member's; a removed or unknown member is "member not found", as etcd answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changedMember, type MemberInfo } from '../../../src/replication/members.ts';

const member = (id: number, name: string, peerUrl: string, removed = false): MemberInfo =>
  ({ id, name, peerUrl, clientUrl: '', learner: false, removed });

const table: MemberInfo[] = [
  member(1, 'm1', 'https://127.0.0.1:7001/'),
  member(2, 'm2', 'https://127.0.0.1:7002/'),
  member(3, 'gone', 'https://127.0.0.1:7003/', true),
  member(4, '', 'https://127.0.0.1:7004'),
];

test('a name binds an unnamed slot, and binding the name it holds again changes nothing', () => {
  const bound = changedMember(table, { id: 4, name: 'm4' });
  assert.deepEqual(bound, { ...table[3], name: 'm4' });
  const after = table.map((m) => (m.id === 4 ? bound : m));
  assert.deepEqual(changedMember(after, { id: 4, name: 'm4' }), bound);
});

test('a bound member is never renamed: a second certificate cannot take its slot', () => {
  const after = table.map((m) => (m.id === 4 ? { ...m, name: 'm4' } : m));
  assert.throws(() => changedMember(after, { id: 4, name: 'm5' }), { code: 'E_BAD_REQUEST', message: 'member 4 is already bound to "m4"; a member is never renamed' });
  assert.throws(() => changedMember(table, { id: 1, name: 'm9' }), { code: 'E_BAD_REQUEST' });
});

test('a slot cannot be bound to a name another member holds; a removed member\'s name is free again', () => {
  assert.throws(() => changedMember(table, { id: 4, name: 'm2' }), { code: 'E_BAD_REQUEST', message: 'another member is named "m2"' });
  assert.equal(changedMember(table, { id: 4, name: 'gone' }).name, 'gone');
  assert.throws(() => changedMember(table, { id: 4, name: '' }), { code: 'E_BAD_REQUEST' });
});

test('an unknown or removed member is not found, with etcd\'s message', () => {
  for (const id of [3, 9]) {
    assert.throws(() => changedMember(table, { id, name: 'x' }), { code: 'E_MEMBER_NOT_FOUND', message: 'etcdserver: member not found' });
    assert.throws(() => changedMember(table, { id, peerUrl: 'https://127.0.0.1:7999' }), { code: 'E_MEMBER_NOT_FOUND' });
  }
});

test('a peer URL moves only to a place no other member has (trailing slash or not); a removed member\'s is free', () => {
  assert.equal(changedMember(table, { id: 4, peerUrl: 'https://127.0.0.1:7999' }).peerUrl, 'https://127.0.0.1:7999');
  assert.equal(changedMember(table, { id: 2, peerUrl: 'https://127.0.0.1:7002' }).peerUrl, 'https://127.0.0.1:7002', 'its own URL');
  for (const taken of ['https://127.0.0.1:7001/', 'https://127.0.0.1:7001', 'https://127.0.0.1:7004/']) {
    assert.throws(() => changedMember(table, { id: 2, peerUrl: taken }), { code: 'E_PEER_URL_EXISTS', message: 'etcdserver: Peer URLs already exists' });
  }
  assert.equal(changedMember(table, { id: 4, peerUrl: 'https://127.0.0.1:7003/' }).peerUrl, 'https://127.0.0.1:7003/');
});
