// The pure half of scheduled rotation: Go-style durations, the annotations' checks, and which Secrets
// are due at time T (the current version's createdAt plus the period, from stored data only).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dueRotations, generateValues, parseDuration, parseGenerateList, type StoredObject, type VersionHistory } from '../../../src/registry/index.ts';
import { checkRotations, rotationAnnotationCauses } from '../../../src/registry/scheduled-rotation.ts';

test('parseDuration reads Go-style durations and nothing else', () => {
  assert.equal(parseDuration('720h'), 720 * 3_600_000);
  assert.equal(parseDuration('1h30m'), 90 * 60_000);
  assert.equal(parseDuration('1.5h'), 90 * 60_000);
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1m30s'), 90_000);
  for (const bad of ['', '720', 'h', '1d', '-1h', '1h ', ' 1h', '1H', 'monthly', '1e3h']) assert.equal(parseDuration(bad), undefined, bad);
});

test('parseGenerateList reads the --generate syntax, comma-separated, with defaults', () => {
  assert.deepEqual(parseGenerateList('password'), [{ key: 'password', length: 32, charset: 'alnum' }]);
  assert.deepEqual(parseGenerateList('a:8:hex, b:4'), [{ key: 'a', length: 8, charset: 'hex' }, { key: 'b', length: 4, charset: 'alnum' }]);
  for (const bad of ['', 'a,', ':8', 'a:x', 'a:0', 'a:8:emoji', 'a,a', 'a:1:hex:more']) assert.equal(typeof parseGenerateList(bad), 'string', bad);
});

test('a generated key named __proto__ (in the annotation or --generate) gets a value of its own, as any key does', () => {
  const specs = parseGenerateList('__proto__:12:hex,b:4');
  if (typeof specs === 'string') assert.fail(specs);
  const values = generateValues(specs);
  assert.deepEqual(Object.keys(values).sort(), ['__proto__', 'b']);
  assert.equal(Object.getPrototypeOf(values), Object.prototype);
  assert.match(Buffer.from(Object.entries(values).find(([k]) => k === '__proto__')?.[1] ?? '', 'base64').toString(), /^[0-9a-f]{12}$/);
});

test('the annotations go together, within the limits, and not on an immutable Secret', () => {
  const ok = { 'coffer.dev/rotate-every': '720h', 'coffer.dev/rotate-generate': 'password' };
  assert.deepEqual(rotationAnnotationCauses(ok, undefined), []);
  assert.deepEqual(rotationAnnotationCauses({ other: 'x' }, true), []);
  assert.equal(rotationAnnotationCauses({ 'coffer.dev/rotate-every': '720h' }, undefined).length, 1);
  assert.equal(rotationAnnotationCauses({ 'coffer.dev/rotate-generate': 'p' }, undefined).length, 1);
  assert.equal(rotationAnnotationCauses({ ...ok, 'coffer.dev/rotate-every': '59s' }, undefined).length, 1);
  assert.equal(rotationAnnotationCauses(ok, true).length, 1);
});

function secret(name: string, annotations: Record<string, string> | undefined, immutable = false): StoredObject {
  return {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque', ...(immutable ? { immutable: true } : {}),
    metadata: { name, namespace: 'ns', uid: 'u', creationTimestamp: '2030-01-01T00:00:00Z', generation: 1, ...(annotations ? { annotations } : {}) },
  };
}

const history = (createdAt: string): VersionHistory => ({ versions: [{ version: 1, createdAt: '2029-01-01T00:00:00Z', createdBy: '', data: {} }, { version: 2, createdAt, createdBy: 'x', data: {} }] });
const hourly = { 'coffer.dev/rotate-every': '1h', 'coffer.dev/rotate-generate': 'password' };

test('a Secret is due once its current version is a period old; unscheduled, immutable or badly annotated ones never are', () => {
  const t = Date.parse('2030-01-01T10:00:00Z');
  const entries = [
    { secret: { object: secret('fresh', hourly), modRevision: 5 }, history: history('2030-01-01T09:30:00Z') },
    { secret: { object: secret('exact', hourly), modRevision: 6 }, history: history('2030-01-01T09:00:00Z') },
    { secret: { object: secret('old', hourly), modRevision: 7 }, history: history('2030-01-01T02:00:00Z') },
    { secret: { object: secret('plain', undefined), modRevision: 8 }, history: history('2020-01-01T00:00:00Z') },
    { secret: { object: secret('frozen', hourly, true), modRevision: 9 }, history: history('2020-01-01T00:00:00Z') },
    { secret: { object: secret('broken', { ...hourly, 'coffer.dev/rotate-every': 'soon' }), modRevision: 10 }, history: history('2020-01-01T00:00:00Z') },
  ];
  const due = dueRotations(entries, t);
  assert.deepEqual(due.map((d) => [d.name, d.modRevision]), [['old', 7], ['exact', 6]], 'oldest due first, each with the revision read');
  assert.deepEqual(due[0]!.generate, [{ key: 'password', length: 32, charset: 'alnum' }]);
  assert.deepEqual(dueRotations(entries, t - 1).map((d) => d.name), ['old'], 'one millisecond earlier, "exact" is not due');
});

// A version stamped in the future (a leader whose clock ran ahead made it) counts from when the deciding
// leader first saw it, not from its stamp: one leader term on a bad clock must not stop rotation until then.
test('a current version stamped 91 days ahead is due one period after the leader first sees it, not on the future date', () => {
  const t = Date.parse('2030-01-01T10:00:00Z');
  const minutely = { 'coffer.dev/rotate-every': '1m', 'coffer.dev/rotate-generate': 'password' };
  const ahead = new Date(t + 91 * 86_400_000).toISOString();
  const entries = [{ secret: { object: secret('ahead', minutely), modRevision: 5 }, history: history(ahead) }];
  const first = checkRotations(entries, t, new Map());
  assert.deepEqual(first.due, [], 'not due the moment it is seen: it counts as made now');
  assert.deepEqual(first.ahead.map((a) => [a.name, a.version, a.createdAt]), [['ahead', 2, ahead]]);
  const seen = new Map([[first.ahead[0]!.key, t]]);
  assert.deepEqual(checkRotations(entries, t + 59_999, seen).due, []);
  const due = checkRotations(entries, t + 60_000, seen).due;
  assert.deepEqual(due.map((d) => [d.name, d.modRevision, d.dueAtMs]), [['ahead', 5, t + 60_000]], 'due one period after it was first seen');
  // Without the leader's memory (a new leader), it counts from that leader's first sight: never later than one period after.
  assert.deepEqual(dueRotations(entries, t + 60_000), []);
  // A version stamped in the past is unaffected by any memory.
  const past = [{ secret: { object: secret('past', minutely), modRevision: 6 }, history: history(new Date(t - 120_000).toISOString()) }];
  assert.deepEqual(checkRotations(past, t, new Map()).ahead, []);
  assert.deepEqual(checkRotations(past, t, new Map()).due.map((d) => d.dueAtMs), [t - 60_000]);
});
