// What `coffer audit verify` prints, online (each member's verdict from the API) and offline (one data
// dir): the first line keeps the form scripts match (`<member>: BROKEN at file F, seq S: reason`), and
// every later break verification found follows on a line of its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VerifyAuditResult } from '../../../src/audit/index.ts';
import { verificationLine } from '../../../src/cli/commands/audit.ts';
import { describeVerifyResult } from '../../../src/server/audit-verify.ts';

const breaks = [
  { file: 'audit-1.log', seq: 2, reason: 'line 2: the record\'s hash does not match its content (edited)' },
  { file: 'audit-13.log', seq: 64, reason: 'line 3: seq jumps from 62 to 64 (lines deleted)' },
];

test('online: the first break leads, each later one follows on its own line', () => {
  assert.equal(verificationLine({ member: 'm2', ok: false, ...breaks[0]!, breaks }), [
    'm2: BROKEN at file audit-1.log, seq 2: line 2: the record\'s hash does not match its content (edited)',
    '  also broken at file audit-13.log, seq 64: line 3: seq jumps from 62 to 64 (lines deleted)',
  ].join('\n'));
  // A member of an earlier version sends the first break only.
  assert.equal(verificationLine({ member: 'm3', ok: false, ...breaks[0]! }), 'm3: BROKEN at file audit-1.log, seq 2: line 2: the record\'s hash does not match its content (edited)');
});

test('offline: the first break leads with the replicated checkpoints checked, each later one follows on its own line', () => {
  const result: VerifyAuditResult = { ok: false, ...breaks[0]!, breaks };
  assert.equal(describeVerifyResult('m1', result, 3), [
    'm1: BROKEN at file audit-1.log, seq 2: line 2: the record\'s hash does not match its content (edited) [3 replicated checkpoint(s) checked]',
    '  also broken at file audit-13.log, seq 64: line 3: seq jumps from 62 to 64 (lines deleted)',
  ].join('\n'));
});
