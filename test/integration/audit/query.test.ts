import assert from 'node:assert/strict';
import { appendFile, readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { AuditQueryError, parseAuditPolicy, queryAuditLog } from '../../../src/audit/index.ts';
import { listAuditFiles } from '../../../src/audit/files.ts';
import { auditQueryMemberBytesMax, auditQueryReadChunkBytes } from '../../../src/config/index.ts';
import { input, openLog, tempDir } from '../../unit/audit/helpers.ts';

const all = parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n');
const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 10, minute));

/** A known set of 8 events, ids e0..e7 in order, checkpoints and file rotations among them. */
async function knownLog(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir, { policy: all, checkpointEveryRecords: 3, fileBytesTarget: 2048 });
  const rows: [string, string[], string, string, string, string, 'allow' | 'forbid'][] = [
    ['alice', ['dev'], 'get', 'secrets', 'default', 'db', 'allow'],
    ['bob', ['ops'], 'create', 'configmaps', 'default', 'app', 'allow'],
    ['alice', ['dev'], 'delete', 'secrets', 'prod', 'db', 'forbid'],
    ['carol', ['auditors'], 'list', 'secrets', 'prod', '', 'allow'],
    ['bob', ['ops', 'dev'], 'update', 'configmaps', 'prod', 'app', 'allow'],
    ['mallory', [], 'get', 'secrets', 'prod', 'db', 'forbid'],
    ['alice', ['dev'], 'get', 'configmaps', 'default', 'app', 'allow'],
    ['bob', ['ops'], 'delete', 'secrets', 'default', 'db', 'allow'],
  ];
  for (const [i, [username, groups, verb, resource, namespace, name, decision]] of rows.entries()) {
    await log.record(input({
      auditID: `e${i}`, user: { username, groups }, verb, decision, decisionReason: 'test',
      requestURI: `/api/v1/namespaces/${namespace}/${resource}${name ? `/${name}` : ''}`,
      objectRef: { resource, namespace, ...(name ? { name } : {}), apiVersion: 'v1' },
      responseStatus: { code: decision === 'allow' ? 200 : 403 },
      requestReceivedTimestamp: at(i), stageTimestamp: at(i),
    }));
  }
  await log.close();
  return dir;
}

const ids = async (dir: string, query: Parameters<typeof queryAuditLog>[1]) => (await queryAuditLog(dir, query)).events.map((e) => e.auditID);

test('with no filters every event comes back, newest first, without chain fields', async (t) => {
  const dir = await knownLog(t);
  const { events } = await queryAuditLog(dir);
  assert.deepEqual(events.map((e) => e.auditID), ['e7', 'e6', 'e5', 'e4', 'e3', 'e2', 'e1', 'e0']);
  assert.ok(events.every((e) => !('hash' in e) && !('seq' in e) && e.kind === 'Event'));
});

test('each filter selects exactly the matching events', async (t) => {
  const dir = await knownLog(t);
  assert.deepEqual(await ids(dir, { user: 'alice' }), ['e6', 'e2', 'e0']);
  assert.deepEqual(await ids(dir, { group: 'dev' }), ['e6', 'e4', 'e2', 'e0']);
  assert.deepEqual(await ids(dir, { verb: 'delete' }), ['e7', 'e2']);
  assert.deepEqual(await ids(dir, { resource: 'configmaps' }), ['e6', 'e4', 'e1']);
  assert.deepEqual(await ids(dir, { namespace: 'prod' }), ['e5', 'e4', 'e3', 'e2']);
  assert.deepEqual(await ids(dir, { name: 'db' }), ['e7', 'e5', 'e2', 'e0']);
  assert.deepEqual(await ids(dir, { decision: 'forbid' }), ['e5', 'e2']);
  assert.deepEqual(await ids(dir, { decision: 'deny' }), ['e5', 'e2']);
  assert.deepEqual(await ids(dir, { decision: 'allow', resource: 'secrets', namespace: 'default' }), ['e7', 'e0']);
});

test('since is inclusive, until exclusive, and limit keeps the newest matches', async (t) => {
  const dir = await knownLog(t);
  assert.deepEqual(await ids(dir, { since: at(2), until: at(5) }), ['e4', 'e3', 'e2']);
  assert.deepEqual(await ids(dir, { since: at(6).toISOString() }), ['e7', 'e6']);
  assert.deepEqual(await ids(dir, { limit: 3 }), ['e7', 'e6', 'e5']);
  assert.deepEqual(await ids(dir, { resource: 'secrets', limit: 2 }), ['e7', 'e5']);
});

test('a bad limit or time is refused with a typed error', async (t) => {
  const dir = await knownLog(t);
  await assert.rejects(queryAuditLog(dir, { limit: 0 }), (e: unknown) => e instanceof AuditQueryError && e.code === 'E_AUDIT_QUERY');
  await assert.rejects(queryAuditLog(dir, { limit: 1_000_000 }), /auditQueryLimitMax/);
  await assert.rejects(queryAuditLog(dir, { since: 'yesterday' }), /since "yesterday" is not a valid time/);
});

test('a directory with no audit files answers with no events', async (t) => {
  const dir = await tempDir(t);
  assert.deepEqual(await queryAuditLog(dir), { events: [], truncated: false });
});

test('a request recorded in two stages is one event: the completion, with its response code', async (t) => {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir, { policy: all, checkpointEveryRecords: 2, fileBytesTarget: 1024 });
  const base = { user: { username: 'alice', groups: ['dev'] }, verb: 'update', decision: 'allow' as const, decisionReason: 'test',
    requestURI: '/api/v1/namespaces/default/secrets/db', objectRef: { resource: 'secrets', namespace: 'default', name: 'db', apiVersion: 'v1' } };
  // A RequestReceived record cannot know the response code.
  const received = (auditID: string, minute: number) => {
    const { responseStatus: _none, ...rest } = input({ ...base, auditID, stage: 'RequestReceived', requestReceivedTimestamp: at(minute), stageTimestamp: at(minute) });
    return rest;
  };
  // w1 and w2 interleave, as concurrent writes do; r is a read with its one record; w3 never completed.
  await log.record(received('w1', 1));
  await log.record(received('w2', 2));
  await log.record(input({ ...base, auditID: 'w1', stage: 'ResponseComplete', responseStatus: { code: 200 }, requestReceivedTimestamp: at(1), stageTimestamp: at(3) }));
  await log.record(input({ ...base, auditID: 'r', verb: 'get', stage: 'ResponseComplete', responseStatus: { code: 200 }, requestReceivedTimestamp: at(4), stageTimestamp: at(4) }));
  await log.record(input({ ...base, auditID: 'w2', stage: 'ResponseComplete', responseStatus: { code: 409 }, requestReceivedTimestamp: at(2), stageTimestamp: at(5) }));
  await log.record(received('w3', 6));
  await log.close();

  const { events } = await queryAuditLog(dir);
  assert.deepEqual(events.map((e) => [e.auditID, e.stage, e.responseStatus?.code]), [
    ['w3', 'RequestReceived', undefined], ['w2', 'ResponseComplete', 409], ['r', 'ResponseComplete', 200], ['w1', 'ResponseComplete', 200],
  ]);
  assert.deepEqual(await ids(dir, { verb: 'update' }), ['w3', 'w2', 'w1']);
  assert.deepEqual(await ids(dir, { limit: 2 }), ['w3', 'w2'], 'the limit counts requests, not records');
});

const withBodies = parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: RequestResponse\n');
const bodyBytes = 200_000;

/** Records `count` events w0.. of about bodyBytes each (a body no value digest replaces). */
async function bigLog(t: Parameters<typeof tempDir>[0], count: number, fileBytesTarget: number): Promise<string> {
  const dir = await tempDir(t);
  const { log } = await openLog(t, dir, { policy: withBodies, fileBytesTarget });
  for (let i = 0; i < count; i++) {
    await log.record(input({
      auditID: `w${i}`, verb: 'create', requestURI: '/apis/example.com/v1/namespaces/default/widgets/w',
      objectRef: { resource: 'widgets', namespace: 'default', name: 'w', apiGroup: 'example.com', apiVersion: 'v1' },
      requestObject: { note: String(i % 10).repeat(bodyBytes) },
    }));
  }
  await log.close();
  return dir;
}

test('a file larger than the read chunk is read in pieces, up to its torn tail, as a whole read finds it', async (t) => {
  const count = Math.ceil((3 * auditQueryReadChunkBytes) / bodyBytes);
  const dir = await bigLog(t, count, 64 * auditQueryReadChunkBytes);
  const [file, ...others] = await listAuditFiles(dir);
  assert.equal(others.length, 0, 'one file');
  // A power cut's leftovers: a zeroed sector, then a complete-looking line, then a line cut short.
  const lines = (await readFile(file!.path, 'utf8')).trimEnd().split('\n');
  const ghost = lines.at(-1)!.replace(`"w${count - 1}"`, '"ghost"');
  await appendFile(file!.path, Buffer.concat([Buffer.alloc(512), Buffer.from(`${ghost}\n${ghost.slice(0, 100)}`)]));
  const { events, truncated } = await queryAuditLog(dir, { verb: 'create' });
  assert.equal(truncated, false);
  assert.deepEqual(events.map((e) => e.auditID), Array.from({ length: count }, (_, i) => `w${count - 1 - i}`));
  assert.ok(events.every((e, i) => (e.requestObject as { note: string }).note === String((count - 1 - i) % 10).repeat(bodyBytes)), 'every body whole');
});

test('past auditQueryMemberBytesMax the oldest matches are left out and the answer says so; within it, nothing is', async (t) => {
  const count = Math.ceil(auditQueryMemberBytesMax / bodyBytes) + 5;
  const dir = await bigLog(t, count, auditQueryReadChunkBytes);
  assert.ok((await listAuditFiles(dir)).length > 3, 'the events span files');
  const { events, truncated } = await queryAuditLog(dir, { verb: 'create' });
  assert.equal(truncated, true);
  // The newest, without a gap, as many as fit.
  assert.deepEqual(events.map((e) => e.auditID), Array.from({ length: events.length }, (_, i) => `w${count - 1 - i}`));
  const bytes = events.reduce((sum, e) => sum + JSON.stringify(e).length, 0);
  assert.ok(bytes <= auditQueryMemberBytesMax && events.length >= Math.floor(auditQueryMemberBytesMax / (bodyBytes + 2048)), `${events.length} events, ${bytes} bytes`);
  // A limit that fits is not truncation.
  const few = await queryAuditLog(dir, { verb: 'create', limit: 3 });
  assert.deepEqual([few.events.map((e) => e.auditID), few.truncated], [[`w${count - 1}`, `w${count - 2}`, `w${count - 3}`], false]);
});
