// One user's watches on a member stay within its share however it opens them: watchersPerUserMax store
// watchers — each Kubernetes or KV watch, each watch created on a gRPC Watch stream — on at most
// watchStreamsPerUserMax streams. A gRPC Watch stream used to count once however many watches it held
// (up to 256 each): one user allowed to watch one key prefix opened 41 streams over one connection, took
// 9,992 of the member's watchersMax (10,000), and every other caller's watch was refused (413).
// Over the member's real listener and TLS: the streams share one HTTP/2 connection, as a gRPC client's do.
// (That clients cannot take the watchers the member keeps for itself: test/unit/mvcc/watch.test.ts and
// test/unit/api/policy-holder.test.ts.) A watch replaying a revision too large for it is cancelled, and its
// client is told why, in each dialect. When other callers hold every watcher clients may have, a watch is
// refused as a capacity (429, RESOURCE_EXHAUSTED: try again later), in each dialect — until 2026-12-06 as a
// request too large (413 on the Kubernetes API, 400 on the JSON gateway), which clients do not retry.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { memberWatchersReserved, watchersMax, watchersPerUserMax, watchReplayRevisionBytesMax, watchStreamsPerUserMax } from '../../../src/config/index.ts';
import { decode, encode, FrameReader, frame, type Message, messageType } from '../../../src/etcdpb/index.ts';
import { grpcCall, grpcExchange, grpcSession } from '../../support/grpc-stream.ts';
import { startTlsMember, type ClientTls, type TlsMember } from './tls-member.ts';

const kvApi = { nonResourceURLs: ['/v3/*', '/etcdserverpb.*'], verbs: ['post'] };
const watchAppKeys = { apiGroups: ['coffer.dev'], resources: ['kvkeys'], verbs: ['watch'], resourceNames: ['app/'] };
const watchConfigMaps = { apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch'] };
/** Users who together can hold every watcher clients may have on the member, each its watchersPerUserMax. */
const fillers = Array.from({ length: Math.ceil((watchersMax - memberWatchersReserved) / watchersPerUserMax) }, (_, i) => `filler-${i}`);

let member: TlsMember;
const sessions: ClientHttp2Session[] = [];

before(async () => {
  member = await startTlsMember({
    granted: {
      watcher: [kvApi, watchAppKeys, watchConfigMaps],
      ...Object.fromEntries(fillers.map((user) => [user, [kvApi, watchAppKeys]])),
      other: [kvApi, watchAppKeys],
      impersonator: [kvApi, { apiGroups: [''], resources: ['users'], resourceNames: ['watcher'], verbs: ['impersonate'] }],
    },
  });
});

after(async () => {
  for (const s of sessions) s.destroy();
  await member.close();
});

function sessionOf(tls: ClientTls): ClientHttp2Session {
  const session = grpcSession(member.url, tls);
  sessions.push(session);
  return session;
}

const watchRequest = messageType('WatchRequest');
const watchResponse = messageType('WatchResponse');
const create = { create_request: { key: Buffer.from('app/x') } };
/** Creates sent before their answers are read: below grpcWatchRequestsQueuedMax, so refusals never end the stream. */
const burst = 32;
/** gRPC's RESOURCE_EXHAUSTED, the code etcd's clients take as "try again later". */
const grpcResourceExhausted = 8;

/** A gRPC Watch stream: requests sent as asked, its answers read one at a time, in order. */
class WatchCall {
  private readonly stream: ClientHttp2Stream;
  private readonly answers: Message[] = [];
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(session: ClientHttp2Session, headers: Record<string, string> = {}) {
    this.stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.Watch/Watch', 'content-type': 'application/grpc', te: 'trailers', ...headers });
    this.stream.on('error', () => undefined);
    const reader = new FrameReader();
    this.stream.on('data', (chunk: Buffer) => {
      for (const m of reader.push(chunk)) this.answers.push(decode(watchResponse, m));
      this.wake?.();
    });
    this.stream.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  send(...requests: Message[]): void {
    this.stream.write(Buffer.concat(requests.map((r) => frame(encode(watchRequest, r)))));
  }

  async next(): Promise<Message> {
    while (this.answers.length === 0) {
      assert.ok(!this.closed, 'the member ended the Watch stream');
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
    return this.answers.shift()!;
  }

  /** Sends creates `burst` at a time until one is refused; the watches created and the reasons of the refusals. */
  async fill(): Promise<{ created: Message[]; refusals: string[] }> {
    const created: Message[] = [];
    const refusals: string[] = [];
    while (refusals.length === 0) {
      this.send(...Array.from({ length: burst }, () => create));
      for (let i = 0; i < burst; i++) {
        const answer = await this.next();
        assert.equal(answer.created, true, 'each create is answered');
        if (answer.canceled === true) refusals.push(String(answer.cancel_reason));
        else created.push(answer);
      }
    }
    return { created, refusals };
  }
}

/** A watch request as `tls`: the status, and the body when it is not a (never-ending) 200 watch. */
function watchOverHttps(tls: ClientTls, method: 'GET' | 'POST', path: string, body?: object): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ ...tls, method, path, agent: false, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      if (res.statusCode === 200) {
        res.destroy();
        resolve({ status: 200, body: '' });
        return;
      }
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

test('one user\'s gRPC Watch streams hold at most watchersPerUserMax watchers between them; the next create is refused, and every other caller still watches', { timeout: 30_000 }, async () => {
  const streams = Math.ceil(watchersMax / watchersPerUserMax) + 1;
  assert.ok(streams <= watchStreamsPerUserMax, 'the attack stays inside the per-user stream cap');
  const session = sessionOf(member.users.watcher!);
  const calls = Array.from({ length: streams }, () => new WatchCall(session));
  const filled = await Promise.all(calls.map((call) => call.fill()));
  const created = filled.reduce((n, f) => n + f.created.length, 0);
  assert.equal(created, watchersPerUserMax, `user "watcher" holds ${created} watchers over ${streams} streams`);
  for (const reason of filled.flatMap((f) => f.refusals)) assert.match(reason, /watchersPerUserMax/);

  // Its other watches count toward the same share: a Kubernetes watch it may make is refused (429)…
  const own = await watchOverHttps(member.users.watcher!, 'GET', '/api/v1/namespaces/default/configmaps?watch=true');
  assert.equal(own.status, 429, own.body);
  assert.match(own.body, /watchersPerUserMax/);
  // …while every other caller watches: Kubernetes, the JSON gateway and gRPC.
  const k8s = await watchOverHttps(member.admin, 'GET', '/api/v1/namespaces/default/configmaps?watch=true');
  assert.equal(k8s.status, 200, k8s.body);
  const gateway = await watchOverHttps(member.admin, 'POST', '/v3/watch', { create_request: { key: Buffer.from('app/x').toString('base64') } });
  assert.equal(gateway.status, 200, gateway.body);
  const other = new WatchCall(sessionOf(member.users.other!));
  other.send(create);
  const answer = await other.next();
  assert.notEqual(answer.canceled, true, `another user's gRPC watch: ${String(answer.cancel_reason)}`);
  // A caller watching as the user counts against itself, not against the user's share.
  const asWatcher = new WatchCall(sessionOf(member.users.impersonator!), { 'impersonate-user': 'watcher' });
  asWatcher.send(create);
  const impersonated = await asWatcher.next();
  assert.notEqual(impersonated.canceled, true, `a watch as "watcher" by its impersonator: ${String(impersonated.cancel_reason)}`);

  // A watch canceled gives its place back: the next create on any of the user's streams is served.
  const holder = filled.findIndex((f) => f.created.length > 0);
  calls[holder]!.send({ cancel_request: { watch_id: filled[holder]!.created[0]!.watch_id } });
  assert.equal((await calls[holder]!.next()).canceled, true, 'the cancel is answered');
  calls.at(-1)!.send(create);
  const again = await calls.at(-1)!.next();
  assert.notEqual(again.canceled, true, `a create after a cancel: ${String(again.cancel_reason)}`);
});

test('a watch replaying with previous values a revision over watchReplayRevisionBytesMax is cancelled with a reason saying why, over gRPC and the JSON gateway', { timeout: 120_000 }, async () => {
  const admin = sessionOf(member.admin);
  const valueBytes = 1024 * 1024;
  const keys = Math.ceil(watchReplayRevisionBytesMax / valueBytes) + 2;
  const put = async (key: string) => grpcExchange(grpcCall(admin, 'KV/Put'), 'PutRequest', { key: Buffer.from(key), value: Buffer.alloc(valueBytes, 1) }, 'PutResponse', true);
  for (let i = 0; i < keys; i++) await put(`huge/${i}`);
  const deleted = await grpcExchange(grpcCall(admin, 'KV/DeleteRange'), 'DeleteRangeRequest', { key: Buffer.from('huge/'), range_end: Buffer.from('huge0') }, 'DeleteRangeResponse', true);
  const revision = Number((deleted.header as Message).revision);
  const why = new RegExp(`revision ${revision} holds more than watchReplayRevisionBytesMax`);
  const span = { key: Buffer.from('huge/'), range_end: Buffer.from('huge0'), start_revision: revision, prev_kv: true };
  const call = new WatchCall(admin);
  call.send({ create_request: span });
  let answer = await call.next();
  while (answer.canceled !== true) answer = await call.next();
  assert.match(String(answer.cancel_reason), why);
  const gateway = await new Promise<string>((resolve, reject) => {
    const req = httpsRequest({ ...member.admin, method: 'POST', path: '/v3/watch', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (text.includes('"canceled":true')) res.destroy();
      });
      res.on('close', () => resolve(text));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ create_request: { ...span, key: span.key.toString('base64'), range_end: span.range_end.toString('base64') } }));
  });
  assert.match(gateway, why);
});

test('when other callers hold every watcher clients may have, a watch is refused as a capacity to retry (429, RESOURCE_EXHAUSTED), not as a request too large, in each dialect', { timeout: 60_000 }, async () => {
  // Fill the member: each filler user its share, until a create is refused for the member's reserve.
  let full = false;
  for (const user of fillers) {
    const { refusals } = await new WatchCall(sessionOf(member.users[user]!)).fill();
    if (refusals.some((reason) => /memberWatchersReserved/.test(reason))) {
      full = true;
      break;
    }
  }
  assert.ok(full, 'the fillers took every watcher clients may have');
  const k8s = await watchOverHttps(member.admin, 'GET', '/api/v1/namespaces/default/configmaps?watch=true');
  assert.equal(k8s.status, 429, k8s.body);
  assert.equal((JSON.parse(k8s.body) as { reason: string }).reason, 'TooManyRequests');
  assert.match(k8s.body, /watchersMax/);
  const gateway = await watchOverHttps(member.admin, 'POST', '/v3/watch', { create_request: { key: Buffer.from('app/x').toString('base64') } });
  assert.equal(gateway.status, 429, gateway.body);
  assert.equal((JSON.parse(gateway.body) as { code: number }).code, grpcResourceExhausted);
  const call = new WatchCall(sessionOf(member.admin));
  call.send(create);
  const answer = await call.next();
  assert.equal(answer.canceled, true);
  assert.match(String(answer.cancel_reason), /watchersMax/);
});
