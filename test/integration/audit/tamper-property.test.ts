// Property: whatever single line is deleted, whatever two different lines are swapped, whatever single
// character is changed, verification against the replicated checkpoints fails.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { type SignedCheckpoint, verifyAuditLog } from '../../../src/audit/index.ts';
import { input, memberKeys, openLog, tempDir } from '../../unit/audit/helpers.ts';

test('any deletion, swap or one-character edit of a line is detected', async (t) => {
  const dir = await tempDir(t);
  const checkpoints: SignedCheckpoint[] = [];
  const { log } = await openLog(t, dir, { checkpointEveryRecords: 5, onCheckpoint: (cp) => { checkpoints.push(cp); } });
  for (let i = 0; i < 20; i++) {
    await log.record(input({ auditID: `a${i}`, verb: i % 3 === 0 ? 'create' : 'get', requestObject: { kind: 'ConfigMap', data: { n: String(i) } } }));
  }
  await log.close();
  const file = path.join(dir, 'audit-1.log');
  const original = (await readFile(file, 'utf8')).trimEnd().split('\n');
  const publicKey = (await memberKeys()).publicKey;
  const check = async (lines: string[]) => {
    await writeFile(file, lines.join('\n') + '\n');
    return verifyAuditLog(dir, { publicKey, replicatedCheckpoints: checkpoints });
  };
  assert.ok((await check(original)).ok, 'the untouched log verifies');

  const n = original.length;
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('delete' as const), i: fc.nat(n - 1) }),
    fc.record({ op: fc.constant('swap' as const), i: fc.nat(n - 1), j: fc.nat(n - 1) }).filter(({ i, j }) => i !== j),
    fc.record({ op: fc.constant('edit' as const), i: fc.nat(n - 1), at: fc.nat(), c: fc.constantFrom(...'0123456789abcdefxyz:",{}[] ') }),
  );
  await fc.assert(fc.asyncProperty(mutation, async (m) => {
    const lines = [...original];
    if (m.op === 'delete') lines.splice(m.i, 1);
    else if (m.op === 'swap') [lines[m.i], lines[m.j]] = [lines[m.j]!, lines[m.i]!];
    else {
      const line = lines[m.i]!;
      const at = m.at % line.length;
      fc.pre(line[at] !== m.c);
      lines[m.i] = line.slice(0, at) + m.c + line.slice(at + 1);
    }
    const result = await check(lines);
    assert.equal(result.ok, false, `undetected: ${JSON.stringify(m)}`);
  }), { numRuns: 300, seed: 20261126 });
});
