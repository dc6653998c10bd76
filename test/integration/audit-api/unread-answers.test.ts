// Answers a client never reads, over real TLS to an audited client API on the member's own listener:
// the member holds at most heldBytesPerUserMax of one user's answers that its clients have not
// taken — an answer to a read past it is refused 429 (gRPC RESOURCE_EXHAUSTED), recorded with why —
// and an answer not taken within the answer timeout is dropped, a streamed list too: its HTTP/2 stream
// cancelled, its HTTP/1.1 connection closed. An answer gone either way stops counting. The limit is
// tested on an app with the member's answer timeout (filling it takes as long as the machine needs),
// the timeout on a second app over the same member with a short one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect as connectHttp2, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { heldBytesPerUserMax, listPageBytesMax, objectBytesMax, watchStreamsPerUserMax } from '../../../src/config/index.ts';
import { decode, encode, frame, messageType, type Message } from '../../../src/etcdpb/index.ts';
import type { AuditedMember } from './harness.ts';
import { type ClientTls, replacingMethod, startTlsMember, type TlsMember } from '../api/tls-member.ts';
import { waitUntil } from '../../support/wait.ts';

/** The answer timeout of the second app, `timed` (the member's is apiAnswerTimeoutMs). */
const answerTimeoutMs = 5_000;
/** Values put under the prefix every large read asks for: one read's answer holds them all. */
const valueBytes = 1024 * 1024;
const values = 3;

let m1: AuditedMember;
let listener: TlsMember;
/** The same member, audit and certificates, served with an answer timeout of answerTimeoutMs. */
let timed: { app: FastifyInstance; port: number };
/**
 * While set, every read of a key under `big/` the API asks of the member's replica waits for `release`
 * once it has read (holding what it read, as a read slow to finish does); `arrived` counts them.
 */
let readsHeld: { arrived: number; release: Promise<void> } | undefined;

async function holding(hold: typeof readsHeld): Promise<void> {
  if (hold === undefined) return;
  hold.arrived++;
  await hold.release;
}
/** admin's client of the app with the member's answer timeout, and of `timed`. */
let clientTls: ClientTls;
let timedTls: ClientTls;
/** Another user's client, with the same rights as admin's. */
let otherTls: ClientTls;

before(async () => {
  // Another user, with the rights admin uses here (reads of any key or resource).
  const reads = [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, { nonResourceURLs: ['*'], verbs: ['*'] }];
  listener = await startTlsMember({
    granted: { other: reads },
    wrapBackend: (backend) => replacingMethod(
      replacingMethod(backend, 'range', (range) => async (key, end, options) => {
        const read = await range(key, end, options);
        const text = Buffer.from(key).toString();
        await holding(text.startsWith('big/') || text.includes(`secrets/${heldNamespace}/`) ? readsHeld : undefined);
        return read;
      }),
      'readTxn', (readTxn) => async (op, options) => {
        const read = await readTxn(op, options);
        await holding(readsHeld);
        return read;
      },
    ),
  });
  ({ admin: clientTls, member: m1 } = listener);
  otherTls = listener.users.other!;
  timed = await listener.listenAgain(() => undefined, { answerTimeoutMs });
  timedTls = { ...clientTls, port: timed.port };
  const session = h2Session();
  try {
    for (let i = 0; i < values; i++) {
      const put = await grpcCall(session, 'KV/Put', 'PutRequest', { key: Buffer.from(`big/${i}`), value: Buffer.alloc(valueBytes, i) });
      assert.equal(put.grpcStatus, '0');
    }
  } finally {
    session.destroy();
  }
  for (let i = 0; i < values; i++) {
    const created = await https('POST', `/api/v1/namespaces/${secretsNamespace}/secrets`, {
      apiVersion: 'v1', kind: 'Secret', metadata: { name: `big-${i}` }, data: { value: Buffer.alloc(Math.floor(valueBytes * 0.7), i).toString('base64') },
    });
    assert.equal(created.status, 201, created.body);
  }
});

after(async () => {
  await timed.app.close();
  await listener.close();
});

/** A gRPC client's session; `windowBytes` is how much of each answer it lets the member send before it reads. */
function h2Session(windowBytes?: number, tls = clientTls, maxSessionMemory?: number): ClientHttp2Session {
  const session = connectHttp2(`https://127.0.0.1:${tls.port}`, {
    ...tls, ALPNProtocols: ['h2'], ...(windowBytes === undefined ? {} : { settings: { initialWindowSize: windowBytes } }),
    ...(maxSessionMemory === undefined ? {} : { maxSessionMemory }),
  });
  session.on('error', () => undefined);
  return session;
}

interface GrpcAnswer {
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  auditID: string;
  body: Buffer;
}

/** One unary gRPC call, read whole. */
function grpcCall(session: ClientHttp2Session, method: string, type: string, fields: Message, headers: Record<string, string> = {}): Promise<GrpcAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': `/etcdserverpb.${method}`, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    stream.end(frame(encode(messageType(type), fields)));
    let auditID = '';
    const chunks: Buffer[] = [];
    let trailers: Record<string, unknown> = {};
    stream.on('response', (headers) => { auditID = headers['audit-id'] as string; trailers = headers; });
    stream.on('trailers', (received: IncomingHttpHeaders) => { trailers = received; });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('close', () => resolve({ grpcStatus: trailers['grpc-status'] as string | undefined, grpcMessage: trailers['grpc-message'] as string | undefined, auditID, body: Buffer.concat(chunks) }));
  });
}

interface HttpAnswer {
  status: number;
  retryAfter: string | undefined;
  body: string;
}

/** One request over HTTP/1.1 as admin, on a connection of its own, read whole. */
function https(method: string, path: string, body?: object): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest({ ...clientTls, method, path, agent: false, headers: { 'content-type': 'application/json' } }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'], body: text }));
    });
    request.on('error', reject);
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A namespace whose Secrets, listed, make an answer of about 2.9 MB: more than a user holding all the 3 MiB answers it may is allowed. */
const secretsNamespace = 'default';

const bigRange = { key: Buffer.from('big/'), range_end: Buffer.from('big0') };

/**
 * Asks `calls` large ranges on `session` (a client that reads none of them) and settles each call as
 * soon as its fate is known: refused (trailers with RESOURCE_EXHAUSTED, no body), held (a first part of
 * the answer waits in the client unread: looking at it takes none of it) or closed by the member.
 */
function askUnread(session: ClientHttp2Session, calls: number, onRefused: () => void = () => undefined): Promise<UnreadCall[]> {
  const started = Date.now();
  return Promise.all(Array.from({ length: calls }, () => new Promise<UnreadCall>((resolve) => {
    const stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' });
    stream.end(frame(encode(messageType('RangeRequest'), bigRange)));
    const call: UnreadCall = { fate: 'asked', auditID: '', rstCode: 0, closedMs: 0, closed: new Promise((closed) => stream.on('close', () => {
      call.rstCode = stream.rstCode ?? 0;
      call.closedMs = Date.now() - started;
      if (call.fate === 'asked') call.fate = 'closed';
      closed();
      resolve(call);
    })) };
    stream.on('response', (headers) => { call.auditID = headers['audit-id'] as string; });
    stream.on('readable', () => {
      if (call.fate !== 'asked' || stream.readableLength === 0) return;
      call.fate = 'held';
      resolve(call);
    });
    stream.on('trailers', (trailers: IncomingHttpHeaders) => {
      if (trailers['grpc-status'] !== '8') return;
      call.fate = 'refused';
      onRefused();
      resolve(call);
    });
    stream.on('error', () => undefined);
  })));
}

interface UnreadCall {
  fate: 'asked' | 'held' | 'refused' | 'closed';
  auditID: string;
  /** The RST_STREAM code the stream closed with, and when (ms after the calls were asked). */
  rstCode: number;
  closedMs: number;
  closed: Promise<void>;
}

test('a user whose clients leave its answers unread is refused reads past heldBytesPerUserMax, on any connection and as whoever it impersonates, each refusal recorded; once its unread client is gone it is served again', { timeout: 120_000 }, async () => {
  const answerBytes = values * valueBytes;
  const calls = Math.ceil(heldBytesPerUserMax / answerBytes) + 8;
  // A client that takes a kilobyte of each answer and no more (its flow-control window): a refusal reaches it whole.
  const unread = h2Session(1024);
  let whileHeld: Promise<GrpcAnswer[]> | undefined;
  let listedWhileHeld: Promise<HttpAnswer> | undefined;
  const sessions = [h2Session(), h2Session(undefined, otherTls)];
  try {
    // While the answers are held: the same user on another connection, as itself and impersonating
    // another user (the connection's user holds them), and another user; a transaction that only reads
    // is a read, on a route whose transactions may write; and the same user listing Secrets through the
    // Kubernetes API, over HTTP/1.1.
    const outcomes = await askUnread(unread, calls, () => {
      whileHeld ??= Promise.all([
        grpcCall(sessions[0]!, 'KV/Range', 'RangeRequest', bigRange),
        grpcCall(sessions[0]!, 'KV/Range', 'RangeRequest', bigRange, { 'impersonate-user': 'other', 'impersonate-group': 'system:masters' }),
        grpcCall(sessions[1]!, 'KV/Range', 'RangeRequest', bigRange),
        grpcCall(sessions[0]!, 'KV/Txn', 'TxnRequest', { success: [{ request_range: bigRange }] }),
      ]);
      listedWhileHeld ??= https('GET', `/api/v1/namespaces/${secretsNamespace}/secrets`);
    });
    const refused = outcomes.filter((o) => o.fate === 'refused');
    const held = outcomes.filter((o) => o.fate === 'held');
    assert.equal(refused.length + held.length, calls, JSON.stringify(outcomes.filter((o) => o.fate !== 'refused' && o.fate !== 'held')));
    assert.ok(held.length * answerBytes <= heldBytesPerUserMax + answerBytes, `${held.length} answers of ${answerBytes} bytes were held unread`);
    assert.ok(refused.length >= calls - Math.ceil(heldBytesPerUserMax / answerBytes), `${refused.length} of ${calls} refused`);
    assert.ok(whileHeld !== undefined);
    const [sameUser, impersonating, otherUser, readingTxn] = await whileHeld;
    assert.deepEqual([sameUser!.grpcStatus, impersonating!.grpcStatus, otherUser!.grpcStatus, readingTxn!.grpcStatus], ['8', '8', '0', '8'],
      'the user is refused on any connection, as whoever it impersonates, a reading transaction too; another user is served');
    assert.ok(listedWhileHeld !== undefined);
    const listed = await listedWhileHeld;
    assert.deepEqual([listed.status, listed.retryAfter, (JSON.parse(listed.body) as { reason?: string }).reason], [429, '1', 'TooManyRequests']);
    for (const refusal of [sameUser!, impersonating!, readingTxn!]) assert.match(decodeURIComponent(refusal.grpcMessage ?? ''), /of the request bodies, reads and unread answers of "admin" are held by the member/);
    // Every refusal is recorded — replaced at its answer, or refused before its handler ran — under the
    // connection's user, whoever it impersonated.
    const all = await m1.events();
    for (const auditID of [refused[0]!.auditID, sameUser!.auditID, impersonating!.auditID, readingTxn!.auditID]) {
      const events = all.filter((e) => e.auditID === auditID);
      assert.equal(events.length, 1, JSON.stringify(events));
      assert.deepEqual([events[0]!.responseStatus?.code, events[0]!.user.username, events[0]!.annotations?.['authorization.k8s.io/decision']], [429, 'admin', 'forbid']);
      assert.match(events[0]!.annotations?.['authorization.k8s.io/reason'] ?? '', /of the request bodies, reads and unread answers of "admin" are held by the member/);
    }
  } finally {
    unread.destroy();
    for (const session of sessions) session.destroy();
  }
  // Its unread client gone, the answers no longer count: the user holds its limit again, and reads in full.
  await holdsItsLimitAgain('its unread client is gone');
  const session = h2Session();
  try {
    const again = await grpcCall(session, 'KV/Range', 'RangeRequest', bigRange);
    assert.equal(again.grpcStatus, '0');
    // One message: a 5-byte prefix (uncompressed, its length), then the RangeResponse.
    assert.equal(again.body.readUInt32BE(1), again.body.length - 5);
    assert.equal((decode(messageType('RangeResponse'), again.body.subarray(5)).kvs as Message[]).length, values);
  } finally {
    session.destroy();
  }
});

/** One answer over HTTP/2 (gRPC or not), read whole. */
interface H2Answer {
  status: number;
  auditID: string;
  /** Why it was refused: the gRPC message, or the JSON answer's `message`. */
  message: string;
  /** Items, key-values or versions the answer carries (1 for an object). */
  items: number;
}

/** A request over HTTP/2 that is not gRPC (the Kubernetes API, the JSON gateway), read whole. */
function h2Json(session: ClientHttp2Session, method: string, path: string, body?: object, contentType = 'application/json'): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': path, ...(body === undefined ? {} : { 'content-type': contentType }) });
    stream.end(body === undefined ? undefined : JSON.stringify(body));
    let status = 0;
    let auditID = '';
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => { status = Number(headers[':status']); auditID = headers['audit-id'] as string; });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('close', () => {
      const answer = JSON.parse(Buffer.concat(chunks).toString()) as { message?: string; items?: unknown[]; kvs?: unknown[]; versions?: unknown[]; metadata?: { name?: string } };
      const items = answer.items ?? answer.kvs ?? answer.versions ?? (answer.metadata?.name === undefined ? [] : [answer]);
      resolve({ status, auditID, message: answer.message ?? '', items: items.length });
    });
  });
}

/**
 * Asks `ask` `calls` times at once while every read it makes is held once it has read (readsHeld);
 * resolves when each is held or refused, with the counts and `release`, which lets the held reads
 * answer and resolves with every answer.
 */
async function askHeld(calls: number, ask: () => Promise<H2Answer>): Promise<{ held: number; refused: number; release: () => Promise<H2Answer[]> }> {
  let free!: () => void;
  const hold = { arrived: 0, release: new Promise<void>((resolve) => { free = resolve; }) };
  readsHeld = hold;
  let refused = 0;
  const answers = Array.from({ length: calls }, () => ask().then((answer) => {
    if (answer.status === 429) refused++;
    return answer;
  }));
  const release = async () => {
    readsHeld = undefined;
    free();
    return Promise.all(answers);
  };
  try {
    // At least: a read of an earlier test whose client has gone may end in this hold too.
    await waitUntil(() => hold.arrived + refused >= calls, 60_000, 'every read held or refused', { detail: () => `${hold.arrived} held, ${refused} refused` });
  } catch (error) {
    await release();
    throw error;
  }
  return { held: hold.arrived, refused, release };
}

/**
 * A Kubernetes watch of `path` that starts with the current objects, as an H2Answer once it has sent
 * `expected` of them (ADDED; items counts them), closed then unless `close` is false; a refusal read whole.
 */
function watchInitial(session: ClientHttp2Session, path: string, expected: number, close = true): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'GET', ':path': path });
    stream.end();
    let status = 0;
    let auditID = '';
    let text = '';
    let added = 0;
    stream.on('response', (headers) => { status = Number(headers[':status']); auditID = headers['audit-id'] as string; });
    stream.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      if (status !== 200) return;
      const lines = text.split('\n');
      text = lines.pop()!;
      added += lines.filter((line) => (JSON.parse(line) as { type: string }).type === 'ADDED').length;
      if (added !== expected) return;
      if (close) stream.close();
      else resolve({ status, auditID, message: '', items: added });
    });
    stream.on('error', reject);
    stream.on('close', () => resolve({ status, auditID, message: status === 200 ? '' : (JSON.parse(text) as { message: string }).message, items: added }));
  });
}

/** A large range as admin, as an H2Answer. */
async function bigRead(session: ClientHttp2Session): Promise<H2Answer> {
  const answer = await grpcCall(session, 'KV/Range', 'RangeRequest', bigRange);
  const kvs = answer.grpcStatus === '0' ? (decode(messageType('RangeResponse'), answer.body.subarray(5)).kvs as Message[]).length : 0;
  return { status: answer.grpcStatus === '8' ? 429 : answer.grpcStatus === '0' ? 200 : 500, auditID: answer.auditID, message: decodeURIComponent(answer.grpcMessage ?? ''), items: kvs };
}

/**
 * Waits until the user, once `what`, may again hold nearly all of heldBytesPerUserMax: as many large
 * reads at once as the limit holds, less one, are all held, none refused — so nothing it held before
 * is still counted (a single read would pass with most of the limit still counted).
 */
async function holdsItsLimitAgain(what: string): Promise<void> {
  const calls = Math.floor(heldBytesPerUserMax / (values * valueBytes)) - 1;
  const session = h2Session();
  try {
    await waitUntil(async () => {
      const asked = await askHeld(calls, () => bigRead(session));
      await asked.release();
      return asked.refused === 0;
    }, 20_000, `${calls} reads held at once by the user once ${what}`);
  } finally {
    session.destroy();
  }
}

/** Creates `namespace` with `count` Secrets of 0.7 MiB of data each (labelled `filler: "yes"`), unless it exists. */
async function secretsIn(namespace: string, count: number): Promise<void> {
  if ((await https('GET', `/api/v1/namespaces/${namespace}`)).status !== 404) return;
  assert.equal((await https('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } })).status, 201);
  for (let i = 0; i < count; i++) {
    const created = await https('POST', `/api/v1/namespaces/${namespace}/secrets`, {
      apiVersion: 'v1', kind: 'Secret', metadata: { name: `${namespace}-${i}`, labels: { filler: 'yes' } },
      data: { value: Buffer.alloc(Math.floor(valueBytes * 0.7), i).toString('base64') },
    });
    assert.equal(created.status, 201, created.body);
  }
}

/** A Kubernetes namespace of Secrets whose reads the test holds (readsHeld), each with 0.7 MiB of data. */
const heldNamespace = 'held';
const heldSecrets = 3;

/**
 * Every route that reads for a client, asked more times at once than the limit holds of what each reads
 * (at least `leastBytes`: the values it reads, without keys or the objects' other fields).
 */
const heldReads: { route: string; leastBytes: number; ask: (session: ClientHttp2Session) => Promise<H2Answer> }[] = [
  {
    route: 'gRPC KV/Range', leastBytes: values * valueBytes, ask: bigRead,
  },
  {
    route: 'gRPC KV/Txn that only reads', leastBytes: values * valueBytes,
    ask: async (session) => {
      const answer = await grpcCall(session, 'KV/Txn', 'TxnRequest', { success: [{ request_range: bigRange }] });
      return { status: answer.grpcStatus === '8' ? 429 : answer.grpcStatus === '0' ? 200 : 500, auditID: answer.auditID, message: decodeURIComponent(answer.grpcMessage ?? ''), items: answer.grpcStatus === '0' ? values : 0 };
    },
  },
  {
    route: 'JSON gateway POST /v3/kv/range', leastBytes: values * valueBytes,
    ask: (session) => h2Json(session, 'POST', '/v3/kv/range', { key: bigRange.key.toString('base64'), range_end: bigRange.range_end.toString('base64') }),
  },
  {
    route: 'Kubernetes list of Secrets', leastBytes: heldSecrets * Math.floor(valueBytes * 0.7),
    ask: (session) => h2Json(session, 'GET', `/api/v1/namespaces/${heldNamespace}/secrets`),
  },
  {
    route: 'Kubernetes get of a Secret', leastBytes: Math.floor(valueBytes * 0.7),
    ask: (session) => h2Json(session, 'GET', `/api/v1/namespaces/${heldNamespace}/secrets/held-0`),
  },
  {
    route: 'Kubernetes watch of Secrets from the current objects', leastBytes: heldSecrets * Math.floor(valueBytes * 0.7),
    ask: (session) => watchInitial(session, `/api/v1/namespaces/${heldNamespace}/secrets?watch=true`, heldSecrets),
  },
  {
    route: 'Kubernetes watch of Secrets with sendInitialEvents', leastBytes: heldSecrets * Math.floor(valueBytes * 0.7),
    ask: (session) => watchInitial(session, `/api/v1/namespaces/${heldNamespace}/secrets?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`, heldSecrets),
  },
  {
    route: 'Kubernetes merge patch of a Secret', leastBytes: Math.floor(valueBytes * 0.7),
    ask: (session) => h2Json(session, 'PATCH', `/api/v1/namespaces/${heldNamespace}/secrets/held-0`, { metadata: { labels: { patched: 'yes' } } }, 'application/merge-patch+json'),
  },
  {
    route: 'Kubernetes server-side apply to a Secret', leastBytes: Math.floor(valueBytes * 0.7),
    ask: (session) => h2Json(session, 'PATCH', `/api/v1/namespaces/${heldNamespace}/secrets/held-1?fieldManager=held-test`,
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'held-1', labels: { applied: 'yes' } } }, 'application/apply-patch+yaml'),
  },
  {
    route: "a Secret's versions", leastBytes: Math.floor(valueBytes * 0.7),
    ask: (session) => h2Json(session, 'GET', `/apis/coffer.dev/v1/namespaces/${heldNamespace}/secrets/held-0/versions`),
  },
];

for (const { route, leastBytes, ask } of heldReads) {
  test(`reads in flight count against their user with its unread answers (${route}): reads that would take it past heldBytesPerUserMax are refused as they read, each recorded, while another user is served; the reads held are answered whole`, { timeout: 120_000 }, async () => {
    await secretsIn(heldNamespace, heldSecrets);
    const calls = Math.ceil(heldBytesPerUserMax / leastBytes) + 8;
    const session = h2Session();
    const other = h2Session(undefined, otherTls);
    try {
      const asked = await askHeld(calls, () => ask(session));
      let all: H2Answer[];
      try {
        assert.ok(asked.held * leastBytes <= heldBytesPerUserMax, `${asked.held} reads of at least ${leastBytes} bytes held at once`);
        assert.ok(asked.refused >= calls - Math.floor(heldBytesPerUserMax / leastBytes), `${asked.refused} of ${calls} refused`);
        // Another user's read is its own: served (a key not held).
        assert.equal((await grpcCall(other, 'KV/Range', 'RangeRequest', { key: Buffer.from('small') })).grpcStatus, '0');
      } finally {
        all = await asked.release();
      }
      const refusals = all.filter((a) => a.status === 429);
      for (const answer of all.filter((a) => a.status !== 429)) assert.deepEqual([answer.status, answer.items > 0], [200, true], JSON.stringify(answer));
      for (const refusal of refusals) assert.match(refusal.message, /of the request bodies, reads and unread answers of "admin" are held by the member/);
      const recorded = (await m1.events()).filter((e) => e.auditID === refusals[0]!.auditID);
      assert.equal(recorded.length, 1, JSON.stringify(recorded));
      assert.deepEqual([recorded[0]!.responseStatus?.code, recorded[0]!.user.username, recorded[0]!.annotations?.['authorization.k8s.io/decision']], [429, 'admin', 'forbid']);
      assert.match(recorded[0]!.annotations?.['authorization.k8s.io/reason'] ?? '', /of the request bodies, reads and unread answers of "admin" are held by the member/);
    } finally {
      session.destroy();
      other.destroy();
    }
    // Answered and taken, the reads no longer count.
    await holdsItsLimitAgain('its answers are taken');
  });
}

/**
 * Asks `path` `calls` times, one after the other, each once the one before has started answering, on a
 * connection of its own (a session holding several answers unread refuses new streams past its
 * maxSessionMemory) that reads a kilobyte and no more; resolves with how many started and how many were
 * refused, once every connection is gone.
 */
async function startUnread(path: string, calls: number): Promise<{ started: number; refused: number }> {
  const unread: ClientHttp2Session[] = [];
  let started = 0;
  let refused = 0;
  try {
    for (let i = 0; i < calls; i++) {
      const session = h2Session(1024);
      unread.push(session);
      const status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':method': 'GET', ':path': path });
        stream.end();
        stream.on('response', (headers) => resolve(Number(headers[':status'])));
        stream.on('error', reject);
      });
      if (status === 429) refused++;
      else started++;
    }
  } finally {
    for (const session of unread) session.destroy();
  }
  return { started, refused };
}

test('reads whose client has gone still count while they hold what they read: the user is refused past heldBytesPerUserMax until they end', { timeout: 120_000 }, async () => {
  const calls = Math.floor(heldBytesPerUserMax / (values * valueBytes)) - 1;
  const gone = h2Session();
  const first = await askHeld(calls, () => bigRead(gone));
  try {
    assert.equal(first.refused, 0);
    // Every stream of those reads is reset; the reads still hold what they read.
    gone.destroy();
    const session = h2Session();
    try {
      const more = 8;
      const second = await askHeld(more, () => bigRead(session));
      await second.release();
      assert.ok(second.refused >= more - 1, `${second.refused} of ${more} refused while the reset reads still held theirs`);
    } finally {
      session.destroy();
    }
  } finally {
    await first.release();
  }
  await holdsItsLimitAgain('its reset reads have ended');
});

test('a list answered a page at a time keeps its first page charged until the client has read it: unread streamed lists are refused past heldBytesPerUserMax', { timeout: 120_000 }, async () => {
  // More than one page (listPageBytesMax) of Secrets: each list is streamed, its first page read before it starts.
  const namespace = 'paged';
  const secrets = Math.ceil(listPageBytesMax / (valueBytes * 0.7)) + 2;
  await secretsIn(namespace, secrets);
  // A page holds at least as many objects as fit at their largest (objectBytesMax), each with 0.7 MiB of data.
  const pageLeastBytes = Math.floor(listPageBytesMax / objectBytesMax) * Math.floor(valueBytes * 0.7);
  const calls = Math.ceil(heldBytesPerUserMax / pageLeastBytes) + 8;
  // Only the pages the streams hold count: each list streams once it has its first page.
  const { started, refused } = await startUnread(`/api/v1/namespaces/${namespace}/secrets`, calls);
  assert.ok(started * pageLeastBytes <= heldBytesPerUserMax, `${started} of ${calls} lists streaming at once, ${refused} refused`);
  await holdsItsLimitAgain('its lists are gone');
});

test('a watch keeps the page of current objects it is sending charged until its client has taken them: unread watches are refused past heldBytesPerUserMax', { timeout: 120_000 }, async () => {
  const namespace = 'watched';
  await secretsIn(namespace, heldSecrets);
  const pageLeastBytes = heldSecrets * Math.floor(valueBytes * 0.7);
  const calls = Math.ceil(heldBytesPerUserMax / pageLeastBytes) + 8;
  assert.ok(calls < watchStreamsPerUserMax, 'refused for what they hold, not for their number');
  const { started, refused } = await startUnread(`/api/v1/namespaces/${namespace}/secrets?watch=true`, calls);
  assert.ok(started * pageLeastBytes <= heldBytesPerUserMax, `${started} of ${calls} watches sending their objects at once, ${refused} refused`);
  await holdsItsLimitAgain('its watches are gone');
});

test('a watch that has sent the objects it starts with holds none of them: live watches that together sent more than heldBytesPerUserMax leave the user its whole limit', { timeout: 120_000 }, async () => {
  const namespace = 'watched';
  await secretsIn(namespace, heldSecrets);
  const calls = Math.ceil(heldBytesPerUserMax / (heldSecrets * Math.floor(valueBytes * 0.7))) + 8;
  const sessions: ClientHttp2Session[] = [];
  try {
    for (let i = 0; i < calls; i++) {
      const session = h2Session();
      sessions.push(session);
      const started = await watchInitial(session, `/api/v1/namespaces/${namespace}/secrets?watch=true`, heldSecrets, false);
      assert.deepEqual([started.status, started.items], [200, heldSecrets]);
    }
    await holdsItsLimitAgain('its watches have sent their objects and stay open');
  } finally {
    for (const session of sessions) session.destroy();
  }
});

test('request bodies in flight count against their user: bodies not yet finished past heldBytesPerUserMax are refused as they arrive, each recorded, while another user is served; once their streams are gone the user holds nothing', { timeout: 120_000 }, async () => {
  // gRPC puts whose message is all but its last byte: the member holds each body until its end, which never comes.
  const bodyBytes = Math.floor(1.4 * 1024 * 1024);
  const calls = Math.ceil(heldBytesPerUserMax / bodyBytes) + 8;
  // The bodies this client has queued and not yet sent count against its own session's memory (node's
  // maxSessionMemory, 10 MB by default), past which it resets each stream an answer comes for
  // (ENHANCE_YOUR_CALM): room for all of them, so that the member's answers are heard.
  const session = h2Session(undefined, clientTls, Math.ceil((2 * calls * bodyBytes) / (1024 * 1024)));
  const other = h2Session(undefined, otherTls);
  const refusals: { auditID: string; message: string }[] = [];
  try {
    for (let i = 0; i < calls; i++) {
      const stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Put', 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => undefined);
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(bodyBytes, 1);
      stream.write(Buffer.concat([prefix, Buffer.alloc(bodyBytes - 1, 1)]));
      let auditID = '';
      stream.on('response', (headers) => { auditID = headers['audit-id'] as string; });
      stream.on('trailers', (trailers: IncomingHttpHeaders) => {
        if (trailers['grpc-status'] === '8') refusals.push({ auditID, message: decodeURIComponent(trailers['grpc-message'] as string) });
      });
    }
    // How many are refused depends on how far each body has come when the limit is reached (HTTP/2 flow
    // control paces them); without the charge none would be.
    await waitUntil(() => refusals.length > 0, 60_000, 'bodies past the limit refused');
    for (const refusal of refusals) assert.match(refusal.message, /of the request bodies, reads and unread answers of "admin" are held by the member/);
    // Another user's read is its own: served.
    assert.equal((await grpcCall(other, 'KV/Range', 'RangeRequest', { key: Buffer.from('small') })).grpcStatus, '0');
    const recorded = (await m1.events()).filter((e) => e.auditID === refusals[0]!.auditID);
    assert.equal(recorded.length, 1, JSON.stringify(recorded));
    assert.deepEqual([recorded[0]!.responseStatus?.code, recorded[0]!.user.username, recorded[0]!.annotations?.['authorization.k8s.io/decision']], [429, 'admin', 'forbid']);
  } finally {
    session.destroy();
    other.destroy();
  }
  await holdsItsLimitAgain('its unfinished bodies are gone');
});

/**
 * Runs `act` on a session of the user while it holds all but about 30 MiB of its limit in reads held
 * after reading — less than `namespace`'s 40 Secrets of about 1 MB each — then lets them answer.
 */
async function withLittleLeft(namespace: string, act: (session: ClientHttp2Session) => Promise<void>): Promise<void> {
  await secretsIn(namespace, 40);
  const heldCalls = Math.floor((heldBytesPerUserMax - 30 * 1024 * 1024) / (values * valueBytes));
  const session = h2Session();
  try {
    const asked = await askHeld(heldCalls, () => bigRead(session));
    let heldAnswers: H2Answer[];
    try {
      assert.equal(asked.refused, 0);
      await act(session);
    } finally {
      heldAnswers = await asked.release();
    }
    for (const answer of heldAnswers) assert.equal(answer.status, 200);
  } finally {
    session.destroy();
  }
}

test('a list that filters holds what it keeps, not what it scans: a selective list over more than the user has left is served', { timeout: 120_000 }, async () => {
  await withLittleLeft('scanned', async (session) => {
    // It lists them all, keeping none; then two.
    const filtered = await h2Json(session, 'GET', '/api/v1/namespaces/scanned/secrets?labelSelector=filler%3Dno');
    assert.deepEqual([filtered.status, filtered.items], [200, 0], filtered.message);
    const all = await h2Json(session, 'GET', '/api/v1/namespaces/scanned/secrets?labelSelector=filler%3Dyes&limit=2');
    assert.deepEqual([all.status, all.items], [200, 2], all.message);
  });
});

test('a deletecollection holds about one page of what it reads: one over more than the user has left is served whole', { timeout: 120_000 }, async () => {
  await withLittleLeft('collected', async (session) => {
    // It deletes them all, a page at a time.
    const deleted = await h2Json(session, 'DELETE', '/api/v1/namespaces/collected/secrets');
    assert.deepEqual([deleted.status, deleted.items], [200, 40], deleted.message);
  });
  await holdsItsLimitAgain('its deletecollection is answered');
});

test('answers not taken within the answer timeout are cancelled (RST_STREAM CANCEL) and stop counting: rounds of unread answers, more than heldBytesPerUserMax in all, are each held whole', { timeout: 120_000 }, async () => {
  // Each round holds just over half the limit: were the cancelled answers still counted, the second
  // round would be refused.
  const perRound = Math.floor(heldBytesPerUserMax / (values * valueBytes) / 2) + 1;
  for (let round = 0; round < 2; round++) {
    const unread = h2Session(1024, timedTls);
    try {
      const outcomes = await askUnread(unread, perRound);
      assert.deepEqual(outcomes.map((o) => o.fate), outcomes.map(() => 'held'), `round ${round}`);
      await Promise.all(outcomes.map((o) => o.closed));
      for (const o of outcomes) {
        assert.equal(o.rstCode, 8, 'an unread answer is cancelled (RST_STREAM CANCEL)');
        assert.ok(o.closedMs >= answerTimeoutMs && o.closedMs < 5 * answerTimeoutMs, `an unread answer was cancelled after ${o.closedMs} ms`);
      }
    } finally {
      unread.destroy();
    }
  }
});

test('an HTTP/1.1 connection that does not read the answers it asked for is closed after the answer timeout', { timeout: 30_000 }, async () => {
  const body = JSON.stringify({ key: Buffer.from('big/').toString('base64'), range_end: Buffer.from('big0').toString('base64') });
  const request = `POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const pipelined = 4;
  // The member's end of the connection: closed when the member gives up on it.
  const memberEnd = new Promise<number>((resolve) => timed.app.server.once('secureConnection', (socket: Socket) => socket.once('close', () => resolve(Date.now()))));
  let received = 0;
  const started = Date.now();
  const socket = connect(timedTls, () => {
    socket.write(request.repeat(pipelined));
    // Reads nothing: 4 answers of 4 MiB each (the values in base64), more than the kernel's buffers on both sides hold.
    socket.pause();
  });
  socket.on('data', (chunk: Buffer) => { received += chunk.length; });
  const clientEnd = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  const closedMs = await memberEnd - started;
  assert.ok(closedMs >= answerTimeoutMs && closedMs < 5 * answerTimeoutMs, `the member closed the connection after ${closedMs} ms`);
  socket.resume();
  await clientEnd;
  assert.ok(received < (pipelined - 1) * 4 * valueBytes, `the client received ${received} bytes: the answers were dropped`);
});

test('a streamed list (more than one page) that its HTTP/1.1 client does not read is dropped after the answer timeout too', { timeout: 60_000 }, async () => {
  // Secrets of about 1 MB (0.7 MiB of values, in base64) in a namespace of their own: more than one
  // list page (listPageBytesMax), so the list is streamed a page at a time.
  const namespace = 'streamed';
  assert.equal((await https('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } })).status, 201);
  const secrets = Math.ceil(listPageBytesMax / (valueBytes * 0.7 * 4 / 3)) + 2;
  for (let i = 0; i < secrets; i++) {
    const created = await https('POST', `/api/v1/namespaces/${namespace}/secrets`, {
      apiVersion: 'v1', kind: 'Secret', metadata: { name: `page-${i}` }, data: { value: Buffer.alloc(Math.floor(valueBytes * 0.7), i).toString('base64') },
    });
    assert.equal(created.status, 201, created.body);
  }
  const memberEnd = new Promise<number>((resolve) => timed.app.server.once('secureConnection', (socket: Socket) => socket.once('close', () => resolve(Date.now()))));
  const started = Date.now();
  const socket = connect(timedTls, () => {
    socket.write(`GET /api/v1/namespaces/${namespace}/secrets HTTP/1.1\r\nHost: x\r\n\r\n`);
    socket.pause();
  });
  socket.on('error', () => undefined);
  const closedMs = await memberEnd - started;
  socket.destroy();
  assert.ok(closedMs >= answerTimeoutMs && closedMs < 5 * answerTimeoutMs, `the member closed the connection after ${closedMs} ms`);
});

test('answers queued behind another on HTTP/1.1 connections that close while they are read are not counted: the user is served again at once', { timeout: 60_000 }, async () => {
  let release!: () => void;
  const hold = { arrived: 0, release: new Promise<void>((resolve) => { release = resolve; }) };
  readsHeld = hold;
  const body = JSON.stringify({ key: bigRange.key.toString('base64'), range_end: bigRange.range_end.toString('base64') });
  const request = `POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  // Reads of 3 MiB each, all held at once within the limit; their answers of 4 MiB (the values in
  // base64) queued behind the first of each connection are more than the limit together.
  const pipelined = 14;
  const connections = 3;
  assert.ok(connections * pipelined * values * valueBytes <= heldBytesPerUserMax);
  assert.ok(connections * (pipelined - 1) * (4 / 3) * values * valueBytes > heldBytesPerUserMax);
  const memberEnds: Promise<void>[] = [];
  const onConnection = (socket: Socket) => memberEnds.push(new Promise((resolve) => socket.once('close', () => resolve())));
  listener.app.server.on('secureConnection', onConnection);
  const sockets: TLSSocket[] = [];
  try {
    for (let i = 0; i < connections; i++) {
      const socket = connect(clientTls, () => socket.write(request.repeat(pipelined)));
      socket.on('error', () => undefined);
      sockets.push(socket);
    }
    await waitUntil(() => hold.arrived === connections * pipelined, 20_000, 'every pipelined read held', { detail: () => `${hold.arrived} held` });
    // The connections close while their reads are held; then the reads end and their answers are sent to no one.
    for (const socket of sockets) socket.destroy();
    await Promise.all(memberEnds);
  } finally {
    listener.app.server.off('secureConnection', onConnection);
    readsHeld = undefined;
    release();
  }
  await holdsItsLimitAgain('its connections are gone');
});

test("answers to clients gone before them are not counted against the user: it may hold its whole limit again", { timeout: 60_000 }, async () => {
  const gone = Math.ceil(heldBytesPerUserMax / (values * valueBytes)) + 8;
  await Promise.all(Array.from({ length: gone }, () => new Promise<void>((resolve) => {
    const session = h2Session();
    const stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' });
    // Gone once the member has the whole request, before its answer: the member sees the stream reset.
    stream.end(frame(encode(messageType('RangeRequest'), bigRange)), () => session.destroy());
    session.once('close', () => resolve());
  })));
  await holdsItsLimitAgain('its clients are gone');
});
