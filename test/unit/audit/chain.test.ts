import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { sodiumReady } from '../../../src/crypto/index.ts';
import { canonicalAround, canonicalJson, joinAround } from '../../../src/audit/canonical.ts';
import { ChainVerifier } from '../../../src/audit/chain-verifier.ts';
import { chainRecord, checkpointSignatureValid, genesisHash, signCheckpoint } from '../../../src/audit/chain.ts';
import { shapeEvent } from '../../../src/audit/event.ts';
import { generateAuditKeyPair } from '../../../src/audit/index.ts';
import { hmacKey, input } from './helpers.ts';

test('canonical JSON sorts keys at every depth, drops undefined and round-trips', () => {
  const value = { b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' }, u: undefined };
  const text = canonicalJson(value);
  assert.equal(text, '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  assert.equal(canonicalJson(JSON.parse(text)), text);
});

/** The canonical JSON as a sorted copy serialises it: the form canonicalJson must write whether or not it copies. */
function sortedCopy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedCopy);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined) Object.defineProperty(out, key, { value: sortedCopy(item), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** `value` with the members of every object in reverse order. */
function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reversed(v)]));
}

test('canonical JSON of any JSON value, its members in any order or parsed from canonical text, is that of its sorted copy', () => {
  fc.assert(fc.property(fc.jsonValue(), (value) => {
    const expected = JSON.stringify(sortedCopy(value));
    assert.equal(canonicalJson(value), expected);
    assert.equal(canonicalJson(reversed(value)), expected);
    assert.equal(canonicalJson(JSON.parse(expected)), expected);
  }), { numRuns: 2000 });
  // Keys that are array indexes come first, in numeric order (src/audit/canonical.ts), copied or not.
  assert.equal(canonicalJson({ b: 1, 10: 2, 9: 3, a: 4 }), '{"9":3,"10":2,"a":4,"b":1}');
  assert.equal(canonicalJson(JSON.parse('{"b":1,"10":2,"9":3,"a":4}')), '{"9":3,"10":2,"a":4,"b":1}');
  // An object of a class is copied as a plain object, as before: a Date's toJSON is not what the chain hashes.
  assert.equal(canonicalJson({ at: new Date(0), data: Buffer.from('a') }), '{"at":{},"data":{"0":97}}');
  assert.throws(() => canonicalJson(JSON.parse('{"a":1e999}')), /non-finite/);
});

test('a value already in canonical order is serialised as it is, and one out of order through a sorted copy', () => {
  // JSON.stringify looks up toJSON on every object it serialises: seen on the proxy only if the
  // serialiser was handed the value itself, not a copy of it.
  const serialisedInPlace = (target: object): boolean => {
    const read: PropertyKey[] = [];
    const proxy = new Proxy(target, { get: (t, key, receiver): unknown => (read.push(key), Reflect.get(t, key, receiver) as unknown) });
    canonicalJson({ a: proxy });
    return read.includes('toJSON');
  };
  assert.equal(serialisedInPlace({ a: 1, b: { c: [1, 2] } }), true);
  assert.equal(serialisedInPlace({ b: 1, a: 2 }), false);
  assert.equal(serialisedInPlace({ a: { d: 1, c: 2 } }), false, 'a member out of order at any depth');
});

test('a member named __proto__ (JSON.parse makes it an own property) stays in the canonical JSON and in a chained line that verifies', async () => {
  const body = JSON.parse('{"data":{"__proto__":{"hidden":"x"},"a":"1"},"__proto__":"top"}') as Record<string, unknown>;
  assert.equal(canonicalJson(body), '{"__proto__":"top","data":{"__proto__":{"hidden":"x"},"a":"1"}}');
  const event = { ...shapeEvent(input(), 'Metadata', 'm1', hmacKey), requestObject: body };
  const { line } = chainRecord(event, 1, genesisHash);
  assert.deepEqual((JSON.parse(line) as { requestObject: unknown }).requestObject, body);
  const verifier = new ChainVerifier({ sodium: await sodiumReady(), publicKey: (await generateAuditKeyPair()).publicKey, start: 'log' });
  verifier.beginFile(1, 'audit-1.log');
  assert.equal(verifier.line(line), undefined);
});

test('an object split around a member and joined, without it or with it, is its canonical JSON', () => {
  const values: Record<string, unknown>[] = [
    {},
    { z: 1 },
    { a: 1 },
    { b: { y: [2, { d: 1, c: undefined }], x: null }, Zed: true, 'é': 'accent', 'É': 'capital', a: undefined, f: () => 1, hashy: 'h', has: 'h' },
    { kind: 'Event', annotations: { 'coffer.dev/member': 'm1', 'authorization.k8s.io/decision': 'allow' } },
  ];
  const extras: Record<string, unknown>[] = [{}, { seq: 3, prevHash: '0'.repeat(64) }, { seq: 3, prevHash: '0'.repeat(64), entry: 9, gone: undefined }];
  for (const value of values) {
    for (const extra of extras) {
      const around = canonicalAround(value, extra, 'hash');
      const what = `${JSON.stringify(Object.keys(value))} with ${JSON.stringify(Object.keys(extra))}`;
      assert.equal(joinAround(around), canonicalJson({ ...value, ...extra }), what);
      assert.equal(joinAround(around, '"hash":"h1"'), canonicalJson({ ...value, ...extra, hash: 'h1' }), `hash placed among ${what}`);
    }
  }
  assert.throws(() => canonicalAround({ hash: 1 }, {}, 'hash'), /already in the object/);
  assert.throws(() => canonicalAround({ seq: 1 }, { seq: 2 }, 'hash'), /already in the object/);
});

test('a record hash is SHA-256 of the canonical record without its hash, and the line is canonical', () => {
  const event = shapeEvent(input(), 'Metadata', 'm1', hmacKey);
  const { fields, line } = chainRecord(event, 1, genesisHash, 7);
  const { hash, ...rest } = fields;
  assert.deepEqual(rest, { seq: 1, prevHash: genesisHash, entry: 7 });
  assert.equal(hash, createHash('sha256').update(canonicalJson({ ...event, ...rest })).digest('hex'));
  assert.equal(line, canonicalJson({ ...event, ...fields }));
  assert.equal(chainRecord(event, 1, genesisHash).fields.entry, undefined);
  assert.throws(() => chainRecord({ ...event, seq: 1 } as typeof event, 2, genesisHash), /carries no chain fields/);
});

test('a checkpoint signature verifies under its key and fails under another key or after any change', async () => {
  const sodium = await sodiumReady();
  const keys = await generateAuditKeyPair();
  const other = await generateAuditKeyPair();
  const signed = signCheckpoint(sodium, { member: 'm1', seq: 10, head: 'a'.repeat(64), time: '2026-01-01T00:00:00.000Z' }, keys.privateKey);
  assert.ok(checkpointSignatureValid(sodium, signed, keys.publicKey));
  assert.ok(!checkpointSignatureValid(sodium, signed, other.publicKey));
  assert.ok(!checkpointSignatureValid(sodium, { ...signed, seq: 11 }, keys.publicKey));
  assert.ok(!checkpointSignatureValid(sodium, { ...signed, head: 'b'.repeat(64) }, keys.publicKey));
  assert.ok(!checkpointSignatureValid(sodium, { ...signed, member: 'm2' }, keys.publicKey));
  assert.ok(!checkpointSignatureValid(sodium, { ...signed, signature: 'AAAA' }, keys.publicKey));
});

test('the verifier accepts a chain it is fed in order and names the first line that breaks it', async () => {
  const sodium = await sodiumReady();
  const keys = await generateAuditKeyPair();
  const lines: string[] = [];
  let prev = genesisHash;
  for (let seq = 1; seq <= 4; seq++) {
    const { fields, line } = chainRecord(shapeEvent(input(), 'Metadata', 'm1', hmacKey), seq, prev);
    lines.push(line);
    prev = fields.hash;
  }
  const run = (feed: string[]) => {
    const v = new ChainVerifier({ sodium, publicKey: keys.publicKey, start: 'log' });
    v.beginFile(1, 'audit-1.log');
    for (const line of feed) {
      const broken = v.line(line);
      if (broken) return broken;
    }
    return v.finish() ?? v.totals;
  };
  assert.deepEqual(run(lines), { records: 4, events: 4, checkpoints: 0, lastSeq: 4, lastHash: prev, firstSeq: 1, recordsSinceCheckpoint: 4, outages: [], lastEntry: 0, gaps: [] });
  assert.match((run([lines[0]!, lines[2]!, lines[3]!]) as { reason: string }).reason, /seq jumps from 1 to 3/);
  assert.match((run([lines[0]!, lines[2]!, lines[1]!, lines[3]!]) as { reason: string }).reason, /seq jumps from 1 to 3/);
  assert.match((run([lines[1]!]) as { reason: string }).reason, /must begin at seq 1/);
  assert.match((run([lines[0]!, lines[1]!.replace('"alice"', '"mallory"')]) as { reason: string }).reason, /hash does not match/);
  assert.match((run([lines[0]!, ' ' + lines[1]!]) as { reason: string }).reason, /canonical form/);
});
