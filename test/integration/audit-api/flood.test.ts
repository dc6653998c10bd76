// Audit flooding through the API: a denied request with a 12 KiB User-Agent and a 3 KiB query writes
// a small record, and a flood of them cannot push young history out silently — the member logs and
// counts it (history at risk first, then each young file before it is deleted).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditRequestUriBytesMax, auditUserAgentBytesMax } from '../../../src/config/index.ts';
import { startAudited } from './harness.ts';

const nobody = { 'x-user': 'mallory', 'x-groups': 'nobody' };
const flood = (i: number) => ({
  method: 'GET' as const,
  url: `/api/v1/namespaces/default/secrets?labelSelector=app%3D${'a'.repeat(3 * 1024)}&n=${i}`,
  headers: { ...nobody, 'user-agent': 'x'.repeat(12 * 1024) },
});

test('a denied request with a 12 KiB User-Agent and a 3 KiB query is recorded in a small record that names the cuts', async (t) => {
  const audited = await startAudited(1);
  t.after(() => audited.close());
  const m1 = audited.members[0]!;
  const response = await m1.app.inject(flood(0));
  assert.equal(response.statusCode, 403);
  const event = (await m1.events()).find((e) => e.auditID === response.headers['audit-id']);
  assert.ok(event !== undefined, 'the denied request has its event');
  assert.equal(Buffer.byteLength(event.userAgent ?? ''), auditUserAgentBytesMax);
  assert.equal(Buffer.byteLength(event.requestURI), auditRequestUriBytesMax);
  assert.match(event.annotations['coffer.dev/truncated'] ?? '', /requestURI cut from \d+ to 2048 bytes, userAgent cut from 12288 to 256 bytes/);
  assert.ok(Buffer.byteLength(JSON.stringify(event)) < 4096, `${Buffer.byteLength(JSON.stringify(event))} bytes`);
});

test('a flood of them cannot push young history out silently: the member warns first, then logs and counts each young file it deletes', async (t) => {
  const said: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const note = (level: string) => (fields: object, message: string) => said.push({ level, message, fields: fields as Record<string, unknown> });
  let youngCounted = 0;
  const audited = await startAudited(1, { fileBytesTarget: 8 * 1024, retention: { bytesMax: 32 * 1024, ageMsMin: 3_600_000 } }, (a) => a, undefined, {
    log: { info: note('info'), warn: note('warn'), error: note('error') },
    metrics: { audit: () => undefined, auditSinkFailed: () => undefined, auditYoungFilesDropped: (n) => { youngCounted += n; } },
  });
  t.after(() => audited.close());
  const m1 = audited.members[0]!;
  for (let i = 0; i < 120; i++) assert.equal((await m1.app.inject(flood(i))).statusCode, 403);
  await m1.audit.flushed();

  const atRisk = said.findIndex((s) => /history younger than the minimum retention is at risk/.test(s.message));
  const dropped = said.filter((s) => /retention deletes files holding records younger than the minimum retention/.test(s.message));
  assert.ok(atRisk >= 0, 'the member warned that young history is at risk');
  assert.ok(dropped.length > 0, 'the flood forced young files out');
  assert.ok(said.indexOf(dropped[0]!) > atRisk, 'the warning came before anything young was deleted');
  assert.ok(dropped.every((s) => s.level === 'warn'));
  const named = dropped.flatMap((s) => s.fields.files as string[]);
  assert.equal(youngCounted, named.length, 'each young file deleted is counted');
  assert.equal(m1.audit.gauges().retentionAtRisk, true);
});
