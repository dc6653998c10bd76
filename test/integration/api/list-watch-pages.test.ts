// A list or a watch's initial events over a namespace larger than a page are read from the store a page
// (listPageBytesMax) at a time, as the client reads what was written: a client that does not read holds
// about one page on the member, not the namespace. Until 2026-12 a list was read and encoded whole (100
// ConfigMaps of 1 MB: one 100 MB answer, the event loop blocked 2–4 s, RSS +430 MB), and a watch from
// resourceVersion 0 read every object into memory before sending one (20 such watches that never read:
// RSS +370–560 MB). A deletecollection deletes a page at a time as its answer is read (until 2026-12-06 it
// deleted everything first and held every deleted object for one answer). Over the member's real listener
// and TLS, since only a real socket pushes back.
//
// What is measured: the bytes of the namespace's objects the API read from the store (a counting
// backend), against the bytes it wrote into the response so far, each time it writes — how far it reads
// ahead of its client; and, while the client reads nothing, what the response holds unsent.
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { after, before, test } from 'node:test';
import type { KvBackend } from '../../../src/api/index.ts';
import { type Clock, realClock, type TimerHandle } from '../../../src/base/index.ts';
import { listPageBytesMax, watchInitialDrainWaitMs, watchUnsentBytesMax } from '../../../src/config/index.ts';
import { configMaps, listPrefix, Registry } from '../../../src/registry/index.ts';
import { prefixEnd } from '../../../src/storage/mvcc/index.ts';
import { replacingMethod, startTlsMember, type ClientTls, type TlsMember } from './tls-member.ts';

const namespace = 'default';
const collection = `/api/v1/namespaces/${namespace}/configmaps`;
const prefix = Buffer.from(listPrefix(configMaps, namespace));
const count = 200;
const valueChars = 100_000;
/** Bytes of one object as stored (its value ~ valueChars, plus its key and metadata). */
const objectBytes = valueChars + 1024;
/**
 * How far the member may read ahead of what it wrote: the page being written, one object a step reads past
 * it, and the item a stream holds between reading and writing it.
 */
const leadMax = listPageBytesMax + 8 * objectBytes;

/** Bytes of the namespace's ConfigMaps the API has read from the store. */
let storeBytes = 0;

function countingBackend(backend: KvBackend): KvBackend {
  return replacingMethod(backend, 'range', (range) => async (key, end, options) => {
    const answer = await range(key, end, options);
    for (const kv of answer.kvs) if (Buffer.from(kv.key.subarray(0, prefix.length)).equals(prefix)) storeBytes += kv.key.length + kv.value.length;
    return answer;
  });
}

/** The timers a watch sets while it waits for its client (watchInitialDrainWaitMs): held here, fired by the test. */
const drainWaits: { fire: () => void; cancelled: boolean }[] = [];
let drainWaitSet: (() => void) | undefined;
const clock: Clock = {
  nowMs: () => realClock.nowMs(),
  defer: (callback) => realClock.defer(callback),
  setTimer: (delayMs, callback): TimerHandle => {
    if (delayMs !== watchInitialDrainWaitMs) return realClock.setTimer(delayMs, callback);
    const wait = { fire: () => { if (!wait.cancelled) { wait.cancelled = true; callback(); } }, cancelled: false };
    drainWaits.push(wait);
    drainWaitSet?.();
    return { cancel: () => { wait.cancelled = true; } };
  },
};

/** Watches waiting for their clients now. */
function waiting(): number {
  return drainWaits.filter((w) => !w.cancelled).length;
}

/** One response of the member as it writes it: what it wrote, its worst read-ahead, whether a write was held back. */
interface Served {
  res: ServerResponse;
  /** storeBytes when the request came: what it read is counted from there (one request reads at a time). */
  storeAtStart: number;
  written: number;
  leadWorst: number;
}
const served: Served[] = [];
let onServed: (() => void) | undefined;

let member: TlsMember;
let reader: ClientTls;

before(async () => {
  member = await startTlsMember({
    granted: {
      reader: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch'] }],
      cleaner: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'delete', 'deletecollection'] }],
    },
    wrapBackend: countingBackend,
    clock,
  });
  reader = member.users.reader!;
  // Every write of a response of the collection, seen from the member's side.
  member.app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith(collection)) return;
    const s: Served = { res, storeAtStart: storeBytes, written: 0, leadWorst: 0 };
    served.push(s);
    type Writer = (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) => unknown;
    const wrap = (original: Writer): Writer => function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
      s.leadWorst = Math.max(s.leadWorst, storeBytes - s.storeAtStart - s.written);
      if (typeof chunk === 'string' || chunk instanceof Uint8Array) s.written += Buffer.byteLength(chunk);
      const result = original.call(this, chunk, ...rest);
      onServed?.();
      return result;
    };
    const writable = res as unknown as { write: Writer; end: Writer };
    writable.write = wrap(writable.write);
    writable.end = wrap(writable.end);
  });
  const registry = new Registry(member.member.backend);
  const value = 'x'.repeat(valueChars);
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < count) {
      const i = next++;
      await registry.create(configMaps, namespace, { metadata: { name: name(i) }, data: { v: value } });
    }
  }));
});

after(async () => { await member.close(); });

function name(i: number): string {
  return `c${String(i).padStart(3, '0')}`;
}

/** A request (a GET by `reader` unless told) whose answer is not read until `read` is called. */
async function open(path: string, method = 'GET', as: ClientTls = reader): Promise<{ response: IncomingMessage; read(onLine?: (line: string) => void): Promise<string> }> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = httpsRequest({ ...as, path, method, agent: false }, resolve);
    request.on('error', reject);
    request.end();
  });
  response.pause();
  return {
    response,
    read: (onLine) => new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let partial = '';
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (onLine === undefined) return;
        partial += chunk.toString('utf8');
        let at: number;
        while ((at = partial.indexOf('\n')) >= 0) {
          onLine(partial.slice(0, at));
          partial = partial.slice(at + 1);
        }
      });
      response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      response.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
      response.on('error', reject);
      response.resume();
    }),
  };
}

/** Resolves once `done()` holds, checked whenever the member writes a response or a watch starts to wait. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) {
    await new Promise<void>((resolve) => {
      onServed = resolve;
      drainWaitSet = resolve;
    });
  }
  onServed = undefined;
  drainWaitSet = undefined;
}

test('a list without limit over many pages is answered whole, read from the store a page ahead of its client at most', { timeout: 60_000 }, async () => {
  storeBytes = 0;
  served.length = 0;
  const list = await open(collection);
  assert.equal(list.response.statusCode, 200);
  // The client reads nothing: the member writes until the connection holds it back, and then stops.
  await until(() => served[0] !== undefined && (served[0].res.writableLength >= served[0].res.writableHighWaterMark || served[0].res.writableEnded));
  const [s] = served as [Served];
  assert.ok(s.leadWorst <= leadMax, `the member read ${s.leadWorst} bytes of the namespace ahead of what it wrote to its client (at most ${leadMax}: about one page, listPageBytesMax)`);
  assert.ok(storeBytes < count * valueChars, 'the member read the whole namespace while its client read nothing');
  const heldBack = s.res.writableLength;
  const body = JSON.parse(await list.read()) as { kind: string; metadata: { resourceVersion: string; continue?: string }; items: { metadata: { name: string; resourceVersion: string } }[] };
  assert.ok(heldBack <= 64 * 1024 + 2 * objectBytes, `the answer held ${heldBack} bytes unsent`);
  assert.equal(body.kind, 'ConfigMapList');
  assert.equal(body.metadata.continue, undefined, 'a list without limit is answered whole, without a continue token');
  assert.deepEqual(body.items.map((i) => i.metadata.name), Array.from({ length: count }, (_, i) => name(i)));
  assert.ok(body.items.every((i) => Number(i.metadata.resourceVersion) <= Number(body.metadata.resourceVersion)));
  assert.ok(s.written > 3 * listPageBytesMax, 'the answer spans several pages');
  assert.ok(s.leadWorst <= leadMax, `the member read ${s.leadWorst} bytes ahead of what it wrote (at most ${leadMax})`);
});

test('a watch from resourceVersion 0 whose client stalls reads a page at a time, then sends every object once and the changes after them', { timeout: 60_000 }, async () => {
  storeBytes = 0;
  served.length = 0;
  drainWaits.length = 0;
  const watch = await open(`${collection}?watch=true&resourceVersion=0`);
  assert.equal(watch.response.statusCode, 200);
  // The member sends until its client holds more than watchUnsentBytesMax unsent, then waits for it.
  await until(() => waiting() === 1 || (served[0] !== undefined && served[0].leadWorst > leadMax));
  const [s] = served as [Served];
  assert.ok(s.leadWorst <= leadMax, `the watch read ${s.leadWorst} bytes of the namespace ahead of what it sent (at most ${leadMax}: about one page, listPageBytesMax)`);
  assert.ok(s.res.writableLength <= watchUnsentBytesMax + objectBytes + 1024, `the stalled watch holds ${s.res.writableLength} bytes unsent`);
  // Changes while it waits come after the objects, as they were when the watch started.
  const registry = new Registry(member.member.backend);
  await registry.delete(configMaps, namespace, name(count - 1));
  await registry.update(configMaps, namespace, name(count - 2), { metadata: { name: name(count - 2) }, data: { v: 'changed' } });
  await registry.create(configMaps, namespace, { metadata: { name: 'later' }, data: { v: 'new' } });
  const events: { type: string; object: { metadata: { name: string; resourceVersion: string }; data?: { v: string } } }[] = [];
  let resolveChanges: () => void = () => undefined;
  const changes = new Promise<void>((resolve) => { resolveChanges = resolve; });
  const reading = watch.read((line) => {
    events.push(JSON.parse(line) as (typeof events)[number]);
    if (events.length === count + 3) resolveChanges();
  });
  await changes;
  watch.response.destroy();
  await reading;
  const initial = events.slice(0, count);
  assert.deepEqual(initial.map((e) => [e.type, e.object.metadata.name]), Array.from({ length: count }, (_, i) => ['ADDED', name(i)]));
  assert.ok(initial.every((e) => e.object.data?.v.length === valueChars), 'the initial events show the objects as they were when the watch started');
  assert.deepEqual(events.slice(count).map((e) => [e.type, e.object.metadata.name]), [['DELETED', name(count - 1)], ['MODIFIED', name(count - 2)], ['ADDED', 'later']]);
  assert.equal(events[count + 1]!.object.data?.v, 'changed');
  assert.ok(s.leadWorst <= leadMax, `the watch read ${s.leadWorst} bytes ahead of what it sent (at most ${leadMax})`);
  await registry.delete(configMaps, namespace, 'later');
  await registry.create(configMaps, namespace, { metadata: { name: name(count - 1) }, data: { v: 'x'.repeat(valueChars) } });
});

test('watches from resourceVersion 0 that never read hold a page each, and are ended as too slow after watchInitialDrainWaitMs', { timeout: 60_000 }, async () => {
  const watchers = 8;
  storeBytes = 0;
  served.length = 0;
  drainWaits.length = 0;
  const watches = [];
  // What the watches read from the store and have not written to their clients: each holds one page at most.
  const held = () => storeBytes - served.reduce((sum, s) => sum + s.written, 0);
  for (let i = 0; i < watchers; i++) {
    watches.push(await open(`${collection}?watch=true&resourceVersion=0`));
    await until(() => waiting() === i + 1 || held() > served.length * leadMax);
  }
  assert.ok(held() <= watchers * leadMax, `${watchers} stalled watches hold ${held()} bytes read and not sent (at most ${watchers * leadMax}: a page each)`);
  assert.ok(storeBytes < watchers * count * valueChars / 2, `${watchers} stalled watches read ${storeBytes} bytes of the namespace`);
  for (const s of served) assert.ok(s.res.writableLength <= watchUnsentBytesMax + objectBytes + 1024, `a stalled watch holds ${s.res.writableLength} bytes unsent`);
  // The client still reads nothing when the wait runs out: the watch ends, its last line a 410.
  assert.equal(waiting(), watchers);
  for (const wait of drainWaits) wait.fire();
  for (const watch of watches) {
    const lines = (await watch.read()).trim().split('\n').map((line) => JSON.parse(line) as { type: string; object: { code?: number; reason?: string } });
    assert.ok(lines.length < count, 'a watch ended as too slow sends no more objects');
    assert.ok(lines.slice(0, -1).every((l) => l.type === 'ADDED'));
    assert.deepEqual(lines.at(-1), { type: 'ERROR', object: lines.at(-1)!.object });
    assert.equal(lines.at(-1)!.object.code, 410);
  }
});

test('a deletecollection over many pages deletes about a page ahead of its client, and answers with every object it deleted', { timeout: 60_000 }, async () => {
  const objects = async () => (await member.member.backend.range(prefix, prefixEnd(prefix), { countOnly: true, linearizable: false })).count;
  const keys = (await member.member.backend.range(prefix, prefixEnd(prefix), { keysOnly: true, linearizable: false })).kvs;
  const names = keys.map((kv) => Buffer.from(kv.key.subarray(prefix.length)).toString());
  assert.ok(names.length >= count, `${names.length} objects to delete`);
  storeBytes = 0;
  served.length = 0;
  const deletion = await open(collection, 'DELETE', member.users.cleaner);
  assert.equal(deletion.response.statusCode, 200);
  // The client reads nothing: the member deletes and writes until the connection holds it back, then stops.
  await until(() => served[0] !== undefined && (served[0].res.writableLength >= served[0].res.writableHighWaterMark || served[0].res.writableEnded));
  const [s] = served as [Served];
  const deletedUnread = names.length - await objects();
  assert.ok(deletedUnread < names.length, 'the member deleted the whole collection while its client read nothing');
  assert.ok(deletedUnread * objectBytes <= s.written + leadMax, `${deletedUnread} objects deleted, ${s.written} bytes written: more than a page ahead`);
  const body = JSON.parse(await deletion.read()) as { kind: string; metadata: { resourceVersion: string }; items: { metadata: { name: string } }[] };
  assert.equal(body.kind, 'ConfigMapList');
  assert.deepEqual(body.items.map((i) => i.metadata.name), names);
  assert.equal(await objects(), 0, 'every object is deleted once the answer is read');
  assert.ok(s.written > 3 * listPageBytesMax, 'the answer spans several pages');
});
