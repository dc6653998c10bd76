// Which writes a NOSPACE alarm refuses: those that add client data, wherever a transaction holds them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addsData } from '../../../src/replication/alarms.ts';
import type { WriteOp } from '../../../src/storage/mvcc/index.ts';

const b = (s: string) => new TextEncoder().encode(s);

test('a put of a client key, anywhere in a transaction, and a lease grant add data; deletes, compaction, revokes, keep-alives and Coffer\'s own keys do not', () => {
  const put = { type: 'put', key: b('k'), value: b('v') } as const;
  const del = { type: 'deleteRange', key: b('k') } as const;
  const adds: WriteOp[] = [
    put,
    { type: 'leaseGrant', id: 0, ttl: 60 },
    { type: 'txn', compare: [], success: [], failure: [put] },
    { type: 'txn', compare: [], success: [del, { type: 'txn', compare: [], success: [], failure: [put] }], failure: [] },
  ];
  const addsNothing: WriteOp[] = [
    del,
    { type: 'compact', revision: 3 },
    { type: 'leaseRevoke', id: 7 },
    { type: 'leaseKeepAlive', id: 7 },
    { type: 'txn', compare: [], success: [del, { type: 'range', key: b('k') }], failure: [] },
    { type: 'put', key: b('\0coffer/audit/checkpoints/m1'), value: b('v') },
  ];
  for (const op of adds) assert.equal(addsData(op), true, JSON.stringify(op.type));
  for (const op of addsNothing) assert.equal(addsData(op), false, JSON.stringify(op.type));
});
