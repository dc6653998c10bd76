// A gRPC Watch stream answers progress requests (`progress_request`, 7 bytes each) once per event-loop
// turn however many came, not once per request: each request used to ask every watch of the stream for
// its progress — a stream of 256 watches and 20,000 requests (137 KiB) cost 5.1M calls and about a second
// of the event loop. When every watch of the stream has caught up the stream answers as etcd 3.4.24+ does,
// with one response of watch_id -1 (clientv3 hands it to each watch), behind every event it covers;
// otherwise each watch is asked once for its own. (clientv3 itself: test/e2e/clientv3, scenario progress.)
// Over the member's real listener and TLS; the member's watchers are seen through the wrapBackend seam.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import type { KvBackend } from '../../../src/api/index.ts';
import { decode, encode, FrameReader, frame, type Message, messageType } from '../../../src/etcdpb/index.ts';
import type { Watcher, WatchOptions } from '../../../src/storage/mvcc/index.ts';
import { grpcCall, grpcExchange, grpcSession } from '../../support/grpc-stream.ts';
import { replacingMethod, startTlsMember, type TlsMember } from './tls-member.ts';

const kvApi = { nonResourceURLs: ['/v3/*', '/etcdserverpb.*'], verbs: ['post'] };
const watchAppKeys = { apiGroups: ['coffer.dev'], resources: ['kvkeys'], verbs: ['watch'], resourceNames: ['app/'] };
/** A watch of this key says it has not caught up (as one still replaying history would). */
const laggingKey = 'app/lagging';
/** Calls of requestProgress on the member's watchers. */
let asked = 0;

function seeingWatchers(backend: KvBackend): KvBackend {
  return replacingMethod(backend, 'mvcc', (mvcc) => () => {
    const reader = mvcc();
    return {
      ...reader,
      watch: (options: WatchOptions): Watcher => {
        const watcher = reader.watch(options);
        const requestProgress = watcher.requestProgress.bind(watcher);
        watcher.requestProgress = () => {
          asked += 1;
          requestProgress();
        };
        if (Buffer.from(options.key).toString() === laggingKey) Object.defineProperty(watcher, 'caughtUp', { get: () => false });
        return watcher;
      },
    };
  });
}

let member: TlsMember;
const sessions: ClientHttp2Session[] = [];

before(async () => {
  member = await startTlsMember({ granted: { watcher: [kvApi, watchAppKeys] }, wrapBackend: seeingWatchers });
});

after(async () => {
  for (const s of sessions) s.destroy();
  await member.close();
});

function session(tls: { cert: string; key: string; ca: string }): ClientHttp2Session {
  const s = grpcSession(member.url, tls);
  sessions.push(s);
  return s;
}

const watchRequest = messageType('WatchRequest');
const watchResponse = messageType('WatchResponse');
const progressRequests = 1000;

/** A gRPC Watch stream: requests written together, its answers read one at a time, in order. */
class WatchCall {
  private readonly stream: ClientHttp2Stream;
  private readonly answers: Message[] = [];
  private wake: (() => void) | undefined;

  constructor(s: ClientHttp2Session) {
    this.stream = grpcCall(s, 'Watch/Watch');
    const reader = new FrameReader();
    this.stream.on('data', (chunk: Buffer) => {
      for (const m of reader.push(chunk)) this.answers.push(decode(watchResponse, m));
      this.wake?.();
    });
  }

  /** Writes `requests` in one write. */
  send(requests: Message[]): void {
    this.stream.write(Buffer.concat(requests.map((r) => frame(encode(watchRequest, r)))));
  }

  async next(): Promise<Message> {
    while (this.answers.length === 0) await new Promise<void>((resolve) => { this.wake = resolve; });
    return this.answers.shift()!;
  }

  /** Creates a watch of each key (ids 0, 1, … in order); resolves once all are created. */
  async watch(keys: string[]): Promise<void> {
    this.send(keys.map((key) => ({ create_request: { key: Buffer.from(key) } })));
    for (const [i, key] of keys.entries()) {
      const answer = await this.next();
      assert.equal(answer.created, true, `the watch of ${key} is created`);
      assert.notEqual(answer.canceled, true, String(answer.cancel_reason));
      assert.equal(Number(answer.watch_id), i);
    }
  }

  close(): void {
    this.stream.close();
  }
}

function isProgress(answer: Message): boolean {
  return ((answer.events as unknown[] | undefined) ?? []).length === 0 && answer.created !== true && answer.canceled !== true;
}

function revisionOf(answer: Message): number {
  return Number((answer.header as Message).revision);
}

/** Puts `key` as admin; the revision of the put. */
async function put(key: string): Promise<number> {
  const answer = await grpcExchange(grpcCall(session(member.admin), 'KV/Put'), 'PutRequest', { key: Buffer.from(key), value: Buffer.from('v') }, 'PutResponse', true);
  return revisionOf(answer);
}

test('progress requests sent together on a stream whose watches have all caught up: one answer (watch_id -1), behind every event it covers', async () => {
  const keys = Array.from({ length: 8 }, (_, i) => `app/all/${i}`);
  const call = new WatchCall(session(member.users.watcher!));
  await call.watch(keys);
  const revisions = new Map<number, number>();
  for (const [i, key] of keys.entries()) revisions.set(i, await put(key));
  const last = Math.max(...revisions.values());
  const askedBefore = asked;
  call.send(Array.from({ length: progressRequests }, () => ({ progress_request: {} })));

  const seen = new Set<number>();
  let answers = 0;
  for (;;) {
    const answer = await call.next();
    const id = Number(answer.watch_id);
    if (!isProgress(answer)) {
      seen.add(id);
      continue;
    }
    answers += 1;
    assert.equal(id, -1, 'one answer for every watch of the stream, as etcd 3.4.24+ gives');
    const revision = revisionOf(answer);
    for (const [watch, at] of revisions) if (at <= revision) assert.ok(seen.has(watch), `the event of watch ${watch} (revision ${at}) came before progress at ${revision}`);
    if (revision >= last) break;
  }
  assert.ok(answers <= 4, `${answers} answers to ${progressRequests} progress requests written at once`);
  assert.equal(asked, askedBefore, 'no watch was asked on its own');
  call.close();
});

test('with a watch not caught up, progress requests sent together ask each watch of the stream once per turn, not once per request', async () => {
  const keys = [...Array.from({ length: 7 }, (_, i) => `app/some/${i}`), laggingKey];
  const call = new WatchCall(session(member.users.watcher!));
  await call.watch(keys);
  const askedBefore = asked;
  call.send(Array.from({ length: progressRequests }, () => ({ progress_request: {} })));

  const notified = new Set<number>();
  while (notified.size < keys.length) {
    const answer = await call.next();
    assert.ok(isProgress(answer), JSON.stringify(answer));
    const id = Number(answer.watch_id);
    assert.ok(id >= 0 && id < keys.length, `a progress answer for one watch (watch_id ${id})`);
    notified.add(id);
  }
  const calls = asked - askedBefore;
  assert.ok(calls >= keys.length && calls <= 4 * keys.length, `${calls} requestProgress calls on ${keys.length} watches for ${progressRequests} progress requests written at once`);
  call.close();
});
