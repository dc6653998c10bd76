// etcd's descriptions found in Coffer's messages (src/api/etcd-errors.ts): the status etcd answers, with
// exactly etcd's words, wherever Coffer names the condition with them — alone, with its detail after, or
// with its context before — and nothing for a message that only resembles one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { etcdStatusOf } from '../../../src/api/etcd-errors.ts';

test('a message naming an etcd condition answers with etcd\'s code and exact description', () => {
  const cases: [message: string, expected: { code: number; message: string } | undefined][] = [
    ['etcdserver: permission denied', { code: 7, message: 'etcdserver: permission denied' }],
    ['etcdserver: permission denied: user "bob" may not get this key', { code: 7, message: 'etcdserver: permission denied' }],
    ['etcdserver: key is not provided', { code: 3, message: 'etcdserver: key is not provided' }],
    ["a put that keeps the key's value needs the key to exist: etcdserver: key not found", { code: 3, message: 'etcdserver: key not found' }],
    ['etcdserver: bad leader transferee: member 5 does not exist', { code: 9, message: 'etcdserver: bad leader transferee' }],
    ['etcdserver: re-configuration failed due to not enough started members (m4 not started yet)', { code: 9, message: 'etcdserver: re-configuration failed due to not enough started members' }],
    ['etcdserver: can only promote a learner member which is in sync with leader', { code: 9, message: 'etcdserver: can only promote a learner member which is in sync with leader' }],
    ['etcdserver: member not found', { code: 5, message: 'etcdserver: member not found' }],
    ['etcdserver: mvcc: database space exceeded', { code: 8, message: 'etcdserver: mvcc: database space exceeded' }],
    ['etcdserver: membership change refused: removing the last voter', undefined],
    ['etcdserver: permission deniedness', undefined],
    ['keys starting with a zero byte are reserved for Coffer', undefined],
  ];
  for (const [message, expected] of cases) assert.deepEqual(etcdStatusOf(message), expected, message);
});
