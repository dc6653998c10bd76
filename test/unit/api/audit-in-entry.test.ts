// The order audit-in-entry.ts promises, at its seam (the KvBackend the API plugins are given): within a
// request whose record travels, the first proposal carries the record; a later proposal, and any change
// that is not a proposal, happens only once the record is durable — in the applied entry, or, when the
// first proposal failed or there was none, in the member's own log; a transaction served as a read
// proposes nothing, and its record is made durable in the member's own log as it reads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TravellingRecord, withRequestAudit } from '../../../src/api/audit-in-entry.ts';
import type { KvBackend } from '../../../src/api/kv/backend.ts';
import type { WriteOp, WriteResponse } from '../../../src/storage/mvcc/index.ts';

const put: WriteOp = { type: 'put', key: new Uint8Array([1]), value: new Uint8Array([2]) };

/** A backend that logs each call; proposals fail while `failing`. */
function loggingBackend(log: string[], failing = () => false): KvBackend {
  const changes = {
    propose: (_op: WriteOp, record?: string) => {
      log.push(`propose ${record ?? '-'}`);
      return failing() ? Promise.reject(new Error('no leader')) : Promise.resolve({ revision: 1 } as WriteResponse);
    },
    addMember: () => { log.push('addMember'); return Promise.resolve({}); },
    promoteMember: () => { log.push('promoteMember'); return Promise.resolve({}); },
    removeMember: () => { log.push('removeMember'); return Promise.resolve({}); },
    updateMemberPeerUrl: () => { log.push('updateMemberPeerUrl'); return Promise.resolve({}); },
    changeAlarm: () => { log.push('changeAlarm'); return Promise.resolve(); },
    defragment: () => { log.push('defragment'); return Promise.resolve(); },
    readTxn: async () => {
      log.push('readTxn');
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      log.push('read');
      return { type: 'txn', revision: 1, succeeded: true, responses: [] };
    },
  };
  return changes as unknown as KvBackend;
}

/** A record whose local write takes a turn of the event loop and is logged. */
function travelling(log: string[]): TravellingRecord {
  return new TravellingRecord('R', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    log.push('recorded locally');
  });
}

test('the first proposal carries the record; a later one waits for it and carries nothing', async () => {
  const log: string[] = [];
  const backend = withRequestAudit(loggingBackend(log));
  const record = travelling(log);
  await record.around(async () => {
    await Promise.all([backend.propose(put), backend.propose(put)]);
  });
  await record.durable();
  assert.deepEqual(log, ['propose R', 'propose -']);
});

test('every change that is not a proposal waits for the record in the member\'s own log', async () => {
  for (const change of ['addMember', 'promoteMember', 'removeMember', 'updateMemberPeerUrl', 'changeAlarm', 'defragment'] as const) {
    const log: string[] = [];
    const backend = withRequestAudit(loggingBackend(log));
    await travelling(log).around(() => (backend[change] as () => Promise<unknown>)());
    assert.deepEqual(log, ['recorded locally', change], change);
  }
});

test('when the first proposal fails, the record goes into the member\'s own log before anything else', async () => {
  const log: string[] = [];
  let failing = true;
  const backend = withRequestAudit(loggingBackend(log, () => failing));
  const record = travelling(log);
  await record.around(async () => {
    await backend.propose(put).catch(() => undefined);
    failing = false;
    await backend.propose(put);
  });
  assert.deepEqual(log, ['propose R', 'recorded locally', 'propose -']);
});

test('a request that proposes nothing has its record written locally once, when the answer waits for it', async () => {
  const log: string[] = [];
  const record = travelling(log);
  await Promise.all([record.durable(), record.durable()]);
  assert.deepEqual(log, ['recorded locally']);
});

test('a transaction served as a read starts its record in the member\'s own log as it reads, and the answer waits for it', async () => {
  const log: string[] = [];
  const backend = withRequestAudit(loggingBackend(log));
  const record = travelling(log);
  await record.around(() => backend.readTxn({ type: 'txn', compare: [], success: [], failure: [] }, { linearizable: true }));
  await record.durable();
  assert.deepEqual(log, ['readTxn', 'recorded locally', 'read'], 'the record is written beside the read, once');
  // A record the log refuses is the answer's refusal (the audit step awaits `durable`).
  const refusing = new TravellingRecord('R', () => Promise.reject(new Error('disk full')));
  await refusing.around(() => backend.readTxn({ type: 'txn', compare: [], success: [], failure: [] }, { linearizable: true }));
  await assert.rejects(refusing.durable(), /disk full/);
});

test('outside a request the backend passes proposals through without a record', async () => {
  const log: string[] = [];
  await withRequestAudit(loggingBackend(log)).propose(put);
  assert.deepEqual(log, ['propose -']);
});
