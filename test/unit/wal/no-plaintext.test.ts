import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { filesUnder, markersIn } from '../../support/plaintext-scan.ts';
import { walFixture } from './helpers.ts';

const markers = ['COFFER-MARKER-KEY-q7Zt', 'COFFER-MARKER-VALUE-W3xk', 'COFFER-MARKER-SNAPSHOT-9pLm'];

const findings = (content: Buffer) => markersIn(content, markers);

test('the scan finds a marker hidden as raw text, base64 at any alignment or hex (control)', () => {
  for (const marker of markers) {
    assert.ok(findings(Buffer.from(`..${marker}..`)).length > 0);
    for (const prefix of ['', 'a', 'ab']) {
      assert.ok(findings(Buffer.from(`--${Buffer.from(prefix + marker + 'tail').toString('base64')}--`)).length > 0, `base64 after ${prefix.length}`);
    }
    assert.ok(findings(Buffer.from(Buffer.from(marker).toString('hex'))).length > 0);
  }
});

test('no plaintext on disk: markers in keys, values and snapshots appear nowhere in the data dir', async (t) => {
  const fx = await walFixture(t);
  const wal = await fx.open({ segmentBytesTarget: 8192 });
  const records = [];
  for (let i = 1; i <= 200; i++) {
    const body = JSON.stringify({ key: `/registry/secrets/default/${markers[0]}-${i}`, value: Buffer.from(`${markers[1]}-${i}`).toString('base64'), raw: `${markers[1]}-${i}` });
    records.push({ index: i, term: 1, type: 'normal' as const, data: new TextEncoder().encode(body) });
  }
  await wal.append(records);
  await wal.setHardState({ term: 1, vote: 1, commit: 200 });
  const confState = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  await wal.saveSnapshot({ metadata: { index: 150, term: 1, confState }, data: new TextEncoder().encode(`${markers[2]} ${markers[0]} ${markers[1]}`.repeat(1000)) });
  await wal.close();
  await fx.keyring.close();

  const files = await filesUnder(path.join(fx.dir, 'data'));
  assert.ok(files.some((f) => f.endsWith('.log')) && files.some((f) => f.endsWith('.snap')) && files.some((f) => f.endsWith('keyring.json')));
  let scanned = 0;
  for (const file of files) {
    const content = await readFile(file);
    scanned += content.length;
    assert.deepEqual(findings(content), [], `plaintext found in ${file}`);
  }
  assert.ok(scanned > 50_000, `${scanned} bytes scanned`);
});
