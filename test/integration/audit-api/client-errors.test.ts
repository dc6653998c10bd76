// Requests node refuses before fastify routes them — a bad request line, a bad header — sent as raw
// bytes over real TLS to an audited client API on the member's own listener (HTTP/1.1 and HTTP/2 by
// ALPN) with its identity by certificate: each is answered 400 and leaves exactly one audit event, naming
// the certificate's user, even when the client goes on sending while the event is being written. A
// request node times out after it was routed (its body never arrives) is answered 408 and leaves exactly
// one event too, under its route's auditID. Requests node would answer itself and never route — an
// expectation other than 100-continue, a CONNECT — are answered by the member and recorded like any
// refusal, in both protocols; an HTTP/1.1 Upgrade is served as the plain request it also is. A
// connection that completes no request is closed after the header timeout in both protocols.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { connect as connectHttp2 } from 'node:http2';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { buildClientApi, identifyByCertificate } from '../../../src/api/index.ts';
import type { AuditEvent } from '../../../src/audit/index.ts';
import { apiHeadersTimeoutMs, apiPipelinedRequestsMax, apiTimeoutCheckIntervalMs, auditRefusedTargetCharsMax, grpcResetStreamsMax, requestBodyChunksMax } from '../../../src/config/index.ts';
import { admin, type AuditedMember } from './harness.ts';
import { startTlsMember, type TlsMember } from '../api/tls-member.ts';
import { waitUntil } from '../../support/wait.ts';

let m1: AuditedMember;
let listener: TlsMember;
let port: number;
let clientTls: ConnectionOptions;
/** Requests the app is serving now, and the most it served at once (seen from its own hooks). */
let serving = 0;
let servingMost = 0;
/** Requests the app has taken, in all. */
let taken = 0;

before(async () => {
  listener = await startTlsMember({
    prepare: (api) => {
      // Served until its answer closes: sent, or its connection gone (no onResponse then).
      api.addHook('onRequest', (_request, reply, done) => {
        taken++;
        servingMost = Math.max(servingMost, ++serving);
        reply.raw.once('close', () => { serving--; });
        done();
      });
    },
  });
  ({ port, admin: clientTls, member: m1 } = listener);
});

after(async () => {
  await listener.close();
});

/** Writes `chunks` one after another on one TLS connection; resolves with all the member sent before closing it. */
function sendRaw(chunks: string[], to = port): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ ...clientTls, port: to }, () => {
      for (const chunk of chunks) socket.write(chunk);
    });
    let received = '';
    socket.on('data', (data: Buffer) => { received += data.toString('latin1'); });
    socket.on('error', (error: NodeJS.ErrnoException) => { if (error.code !== 'ECONNRESET') reject(error); });
    socket.once('close', () => resolve(received));
  });
}

function auditIdOf(answer: string): string {
  const id = /\r\naudit-id: ([0-9a-f-]{36})\r\n/i.exec(answer)?.[1];
  assert.ok(id !== undefined, `the answer names its audit event: ${JSON.stringify(answer.slice(0, 200))}`);
  return id;
}

async function eventsOf(auditID: string): Promise<AuditEvent[]> {
  return (await m1.events()).filter((e) => e.auditID === auditID);
}

const longTarget = `/${'a'.repeat(2 * auditRefusedTargetCharsMax)}`;

const cases = [
  { name: 'a bad request line', chunks: [`GET ${longTarget} HTTP/1.1 junk\r\nHost: x\r\n\r\n`], uri: longTarget.slice(0, auditRefusedTargetCharsMax), verb: 'get', why: /^malformed request: HPE_/ },
  { name: 'a bad header', chunks: ['GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n'], uri: '/api/v1/namespaces', verb: 'get', why: /^malformed request: HPE_/ },
  { name: 'garbage, then more bytes while the event is written', chunks: ['\x00\x01\x02 not http\r\n\r\n', 'GET / HTTP/1.1\r\n\r\n', 'more garbage\r\n'], uri: 'not', verb: '', why: /^malformed request: / },
];

for (const c of cases) {
  test(`${c.name}: answered 400, and exactly one audit event, with the certificate's user`, async () => {
    const countBefore = (await m1.events()).length;
    const answer = await sendRaw(c.chunks);
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { kind: string; code: number; reason: string };
    assert.deepEqual([body.kind, body.code, body.reason], ['Status', 400, 'BadRequest']);
    const events = await eventsOf(auditIdOf(answer));
    assert.equal(events.length, 1);
    const event = events[0]!;
    assert.equal(event.level, 'Metadata');
    assert.equal(event.stage, 'ResponseComplete');
    assert.equal(event.user.username, 'admin');
    assert.equal(event.responseStatus?.code, 400);
    assert.equal(event.requestURI, c.uri);
    assert.equal(event.verb, c.verb);
    assert.equal(event.annotations['authorization.k8s.io/decision'], 'forbid');
    assert.match(event.annotations['authorization.k8s.io/reason'] ?? '', c.why);
    assert.equal((await m1.events()).length, countBefore + 1, 'no other event was written');
  });
}

/** Creates Secret `name` in default through the member's app, as the admin. */
async function createSecret(name: string): Promise<void> {
  const response = await m1.app.inject({ method: 'POST', url: '/api/v1/namespaces/default/secrets', headers: admin,
    payload: { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: { password: Buffer.from('pipelined-hidden').toString('base64') } } });
  assert.equal(response.statusCode, 201, response.body);
}

// Bytes node cannot parse, pipelined behind a whole request on one connection, are a request of their own:
// node reports them while the request before them is in flight. They were recorded as that request's end
// (ResponseComplete 400) before its route recorded it, so the write then ran with no record at all —
// a Secret deleted, and the log saying only "delete → 400".
for (const trailing of [{ name: 'garbage', bytes: '\x01\r\n\r\n' }, { name: 'headers over the limit', bytes: `GET / HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n` }]) {
  test(`a write pipelined before ${trailing.name} node refuses is recorded as the write it is, and the refused bytes get a record of their own`, async () => {
    const name = `pipelined-${randomUUID().slice(0, 8)}`;
    await createSecret(name);
    const before = await eventsSoFar();
    await sendRaw([`DELETE /api/v1/namespaces/default/secrets/${name} HTTP/1.1\r\nHost: x\r\n\r\n${trailing.bytes}`]);
    // Whatever the client was told, the store and the log agree: a delete that happened is recorded as one.
    const gone = (await m1.app.inject({ method: 'GET', url: `/api/v1/namespaces/default/secrets/${name}`, headers: admin })).statusCode === 404;
    const events = await waitUntil(async () => {
      const since = await eventsSince(before);
      const deletes = since.filter((e) => e.verb === 'delete' && e.objectRef?.name === name);
      return deletes.some((e) => e.stage === 'ResponseComplete') && since.some((e) => e.objectRef === undefined) ? since : undefined;
    }, 10_000, 'the delete\'s completion and the refusal recorded');
    const deletes = events.filter((e) => e.verb === 'delete' && e.objectRef?.name === name);
    const completion = deletes.find((e) => e.stage === 'ResponseComplete')!;
    if (gone) {
      const stages = (await m1.records()).filter((r) => r.auditID === completion.auditID).map((r) => r.stage);
      assert.deepEqual(stages, ['RequestReceived', 'ResponseComplete'], 'the delete that happened has its record from before it ran');
      assert.equal(completion.responseStatus?.code, 200, 'the delete that happened is recorded as done');
    } else {
      assert.notEqual(completion.responseStatus?.code, 200, 'a delete that did not happen is not recorded as done');
    }
    const refusals = events.filter((e) => e.objectRef === undefined);
    assert.equal(refusals.length, 1, JSON.stringify(refusals));
    assert.equal(refusals[0]!.annotations['authorization.k8s.io/decision'], 'forbid');
    assert.equal(refusals[0]!.user.username, 'admin');
  });
}

test('a routed request whose body does not arrive in time is answered 408, with exactly one audit event', async () => {
  // The same API with a short request timeout (the member's is apiRequestTimeoutMs).
  const requestTimeout = 1_000;
  const timed = buildClientApi({
    backend: m1.backend, audit: m1.audit, identify: identifyByCertificate(listener.reloader),
    server: { https: { ...listener.reloader.serverOptions(), requestTimeout, connectionsCheckingInterval: 100 }, requestTimeout },
  });
  await timed.listen({ host: '127.0.0.1', port: 0 });
  try {
    const answer = await sendRaw(['POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":'],
      (timed.server.address() as { port: number }).port);
    assert.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    const events = await eventsOf(auditIdOf(answer));
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.equal(events[0]!.stage, 'ResponseComplete');
    assert.equal(events[0]!.responseStatus?.code, 408);
    assert.equal(events[0]!.user.username, 'admin');
    assert.equal(events[0]!.verb, 'create');
  } finally {
    await timed.close();
  }
});

test('an HTTP/2 request whose body does not arrive in time — silent, or trickled byte by byte — is answered 408 with exactly one audit event, and its stream is reset', { timeout: 30_000 }, async () => {
  // The client port with a short request timeout (the member's is apiRequestTimeoutMs), which holds HTTP/2 too.
  const requestTimeout = 1_000;
  const { app: timed, port: timedPort } = await listener.listenAgain((options) => Object.assign(options.https, { requestTimeout, headersTimeout: requestTimeout }));
  const session = connectHttp2(`https://127.0.0.1:${timedPort}`, { ...clientTls, port: timedPort, ALPNProtocols: ['h2'] });
  const trickles: NodeJS.Timeout[] = [];
  try {
    const started = Date.now();
    const answers = await Promise.all(['silent', 'trickled'].map((how) => new Promise<{ status: number; auditID: string; closedMs: number }>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/api/v1/namespaces', 'content-type': 'application/json', 'content-length': '100' }, { endStream: false });
      stream.write('{"a":');
      // Well within the idle timeout each time: only a deadline from the request's start ends it.
      if (how === 'trickled') trickles.push(setInterval(() => { if (stream.writable) stream.write(' '); }, requestTimeout / 5));
      let answer: { status: number; auditID: string } | undefined;
      stream.on('response', (headers) => { answer = { status: Number(headers[':status']), auditID: headers['audit-id'] as string }; });
      stream.resume();
      stream.on('error', reject);
      stream.once('close', () => answer === undefined ? reject(new Error(`${how}: closed without an answer (code ${stream.rstCode})`)) : resolve({ ...answer, closedMs: Date.now() - started }));
    })));
    for (const answer of answers) {
      assert.equal(answer.status, 408);
      assert.ok(answer.closedMs < 3 * requestTimeout, `the stream was ended ${answer.closedMs} ms after it began`);
      const events = await eventsOf(answer.auditID);
      assert.equal(events.length, 1, JSON.stringify(events));
      assert.deepEqual([events[0]!.stage, events[0]!.responseStatus?.code, events[0]!.user.username, events[0]!.verb], ['ResponseComplete', 408, 'admin', 'create']);
    }
  } finally {
    for (const trickle of trickles) clearInterval(trickle);
    session.destroy();
    await timed.close();
  }
});

/** One HTTP/2 request on its own session; resolves with the answer's status and headers. */
function http2Request(headers: Record<string, string>): Promise<{ status: number; auditID: string | undefined }> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(`https://127.0.0.1:${port}`, { ...clientTls, ALPNProtocols: ['h2'] });
    session.on('error', reject);
    const stream = session.request(headers, { endStream: headers[':method'] !== 'CONNECT' });
    stream.on('response', (answer) => {
      stream.close();
      session.close();
      resolve({ status: Number(answer[':status']), auditID: answer['audit-id'] as string | undefined });
    });
    stream.on('error', (error: Error) => {
      session.close();
      reject(error);
    });
  });
}

const unrouted = [
  { name: 'HTTP/1.1 with an expectation other than 100-continue', status: 417, verb: 'get', why: /^unsupported expectation/,
    send: async () => sendRaw(['GET /api/v1/namespaces/default/secrets HTTP/1.1\r\nHost: x\r\nExpect: x\r\n\r\n']) },
  { name: 'HTTP/1.1 CONNECT', status: 405, verb: 'connect', why: /^CONNECT is not served/,
    send: async () => sendRaw(['CONNECT internal.example:443 HTTP/1.1\r\nHost: internal.example:443\r\n\r\n']) },
  { name: 'HTTP/2 with an expectation other than 100-continue', status: 417, verb: 'get', why: /^unsupported expectation/,
    send: async () => http2Request({ ':method': 'GET', ':path': '/api/v1/namespaces/default/secrets', expect: 'x' }) },
  { name: 'HTTP/2 CONNECT', status: 405, verb: 'connect', why: /^CONNECT is not served/,
    send: async () => http2Request({ ':method': 'CONNECT', ':authority': 'internal.example:443' }) },
];

for (const c of unrouted) {
  test(`${c.name}: answered ${c.status} by the member, with exactly one audit event`, async () => {
    const answer = await c.send();
    const [status, auditID] = typeof answer === 'string' ? [Number(answer.split(' ')[1]), auditIdOf(answer)] : [answer.status, answer.auditID];
    assert.equal(status, c.status, JSON.stringify(answer).slice(0, 300));
    assert.ok(auditID !== undefined, 'the answer names its audit event');
    const events = await eventsOf(auditID);
    assert.equal(events.length, 1, JSON.stringify(events));
    const [event] = events;
    assert.deepEqual([event!.user.username, event!.verb, event!.responseStatus?.code, event!.annotations?.['authorization.k8s.io/decision']], ['admin', c.verb, c.status, 'forbid']);
    assert.match(event!.annotations?.['authorization.k8s.io/reason'] ?? '', c.why);
  });
}

/** HTTP/2 connection preface, an empty SETTINGS frame, and HEADERS on stream 1 without END_HEADERS: a header block that never ends. */
const h2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const h2EmptySettings = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
const h2OpenHeaderBlock = Buffer.from([0, 0, 2, 0x1, 0x0, 0, 0, 0, 1, 0x82, 0x86]);

/** Opens a connection with `alpn` and writes `bytes`; resolves with whether the member closed it within `withinMs`. */
function closedWithin(alpn: string, bytes: Buffer, withinMs: number): Promise<boolean> {
  return writesClosedWithin(alpn, bytes.length > 0 ? [bytes] : [], withinMs);
}

/** Opens a connection with `alpn` and writes each of `writes` in a write of its own; resolves with whether the member closed it within `withinMs`. */
function writesClosedWithin(alpn: string, writes: Buffer[], withinMs: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ ...clientTls, ALPNProtocols: [alpn] }, () => {
      assert.equal(socket.alpnProtocol, alpn);
      for (const bytes of writes) if (socket.writable) socket.write(bytes);
    });
    socket.on('data', () => undefined);
    socket.on('error', (error: NodeJS.ErrnoException) => { if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error); });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, withinMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** The records of connections closed because no request arrived in time: 408, no method, no target. */
async function unreceivedRecords(): Promise<AuditEvent[]> {
  return (await m1.events()).filter((e) => e.responseStatus?.code === 408 && e.verb === '' && e.requestURI === '');
}

/** The auditIDs of the member's events so far. */
const eventsSoFar = async (): Promise<Set<string>> => new Set((await m1.events()).map((e) => e.auditID));
/** The member's events that were not among `before`. */
const eventsSince = async (before: Set<string>): Promise<AuditEvent[]> => (await m1.events()).filter((e) => !before.has(e.auditID));

/** An HTTP/2 frame: its 9-byte header (length, type, flags, stream) and payload. */
function h2Frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header.writeUInt8(type, 3);
  header.writeUInt8(flags, 4);
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}
const [h2Data, h2Headers, h2RstStream, h2Continuation] = [0x0, 0x1, 0x3, 0x9];
const [h2EndStream, h2EndHeaders] = [0x1, 0x4];
/** HPACK for GET https://127.0.0.1/version: :method GET and :scheme https indexed, :path and :authority literals. */
const getVersionBlock = Buffer.concat([Buffer.from([0x82, 0x87, 0x04, 8]), Buffer.from('/version'), Buffer.from([0x01, 9]), Buffer.from('127.0.0.1')]);

/** Opens an h2 connection and writes its preface, then each of `frames` in a write of its own; resolves with whether the member closed it within `withinMs`. */
const h2Raw = (frames: Buffer[], withinMs: number): Promise<boolean> => writesClosedWithin('h2', [Buffer.concat([h2Preface, h2EmptySettings]), ...frames], withinMs);

/** An HPACK header field, literal, not indexed (names and values under 127 bytes, no Huffman). */
const hpackLiteral = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);

/**
 * Opens an h2 connection and sends stream 1's `headers` and `body` without END_STREAM, then on stream 3 a
 * GET /version; once stream 3 is answered (a connection's frames are taken in order, so the member has
 * stream 1's body), `end`s stream 1 without its END_STREAM: an RST_STREAM, or the connection closed.
 * Resolves with the connection, to be destroyed once done with.
 */
function unfinishedRequest(headers: Buffer, body: Buffer, end: 'reset' | 'close'): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ ...clientTls, ALPNProtocols: ['h2'] }, () => {
      socket.write(Buffer.concat([h2Preface, h2EmptySettings, h2Frame(h2Headers, h2EndHeaders, 1, headers), h2Frame(h2Data, 0, 1, body),
        h2Frame(h2Headers, h2EndHeaders | h2EndStream, 3, getVersionBlock)]));
    });
    let received = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      received = Buffer.concat([received, data]);
      for (let at = 0; at + 9 <= received.length; at += 9 + received.readUIntBE(at, 3)) {
        if (received.readUInt8(at + 3) !== h2Headers || received.readUInt32BE(at + 5) !== 3) continue;
        socket.removeAllListeners('data');
        if (end === 'reset') socket.write(h2Frame(h2RstStream, 0, 1, Buffer.from([0, 0, 0, 8])), () => resolve(socket));
        else socket.destroy();
        return;
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => { if (error.code !== 'ECONNRESET') reject(error); });
    socket.once('close', () => resolve(socket));
  });
}

for (const end of ['reset', 'close'] as const) {
  test(`an HTTP/2 request whose client ends it before its body's END_STREAM (${end === 'reset' ? 'RST_STREAM' : 'the connection closed'}) is recorded with its client's address, and not served with the part that came`, async () => {
    const key = Buffer.from(`unfinished/${end}`).toString('base64');
    const userAgent = `unfinished-body/${randomUUID()}`;
    // A whole JSON put, but not the end of its stream.
    const headers = Buffer.concat([Buffer.from([0x83, 0x87, 0x04, 10]), Buffer.from('/v3/kv/put'), Buffer.from([0x01, 9]), Buffer.from('127.0.0.1'),
      hpackLiteral('content-type', 'application/json'), hpackLiteral('user-agent', userAgent)]);
    const connection = await unfinishedRequest(headers, Buffer.from(JSON.stringify({ key, value: Buffer.from('written').toString('base64') })), end);
    const recorded = async () => (await m1.events()).filter((e) => e.userAgent === userAgent);
    await waitUntil(async () => (await recorded()).length > 0, 10_000, 'the request recorded');
    const events = await recorded();
    assert.equal(events.length, 1, JSON.stringify(events));
    assert.deepEqual([events[0]!.responseStatus?.code, events[0]!.user.username, events[0]!.sourceIPs], [400, 'admin', ['127.0.0.1']], JSON.stringify(events[0]));
    const reader = connectHttp2(`https://127.0.0.1:${port}`, { ...clientTls, ALPNProtocols: ['h2'] });
    try {
      const read = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const range = reader.request({ ':method': 'POST', ':path': '/v3/kv/range', 'content-type': 'application/json' });
        range.end(JSON.stringify({ key }));
        let status = 0;
        let body = '';
        range.on('response', (answer) => { status = Number(answer[':status']); });
        range.setEncoding('utf8').on('data', (chunk: string) => { body += chunk; });
        range.on('error', reject);
        range.on('close', () => resolve({ status, body }));
      });
      assert.deepEqual([read.status, (JSON.parse(read.body) as { count?: string }).count ?? '0'], [200, '0'], `the put was not made: ${read.body}`);
    } finally {
      reader.destroy();
      connection.destroy();
    }
  });
}

test('a request whose body no parser reads (a watch), reset before its END_STREAM, leaves the member serving', async () => {
  const watchPath = '/api/v1/namespaces/default/secrets?watch=true';
  const headers = Buffer.concat([Buffer.from([0x82, 0x87, 0x04, watchPath.length]), Buffer.from(watchPath), Buffer.from([0x01, 9]), Buffer.from('127.0.0.1')]);
  const connection = await unfinishedRequest(headers, Buffer.from('{}'), 'reset');
  try {
    const answer = await http2Request({ ':method': 'GET', ':path': '/version' });
    assert.equal(answer.status, 200);
  } finally {
    connection.destroy();
  }
});

test('an HTTP/1.1 request whose connection closes before its body has all its Content-Length is answered 400 and recorded', async () => {
  const userAgent = `cut-body/${randomUUID()}`;
  const takenBefore = taken;
  await new Promise<void>((resolve) => {
    const socket = connect(clientTls, () => {
      socket.write(`POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nUser-Agent: ${userAgent}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"key":`, () => {
        // Once the member has taken the request (its record begins), the connection goes.
        void waitUntil(() => taken > takenBefore, 5_000, 'the request taken').then(() => socket.destroy());
      });
    });
    socket.on('error', () => undefined);
    socket.once('close', () => resolve());
  });
  const recorded = async () => (await m1.events()).filter((e) => e.userAgent === userAgent);
  await waitUntil(async () => (await recorded()).length > 0, 10_000, 'the request recorded');
  const events = await recorded();
  assert.deepEqual(events.map((e) => [e.responseStatus?.code, e.user.username]), [[400, 'admin']], JSON.stringify(events));
});

/** A KV put of `key` as JSON, padded with spaces (which JSON allows) to `bytes` bytes. */
function paddedPut(key: string, bytes: number): string {
  const put = JSON.stringify({ key: Buffer.from(key).toString('base64'), value: Buffer.from('v').toString('base64') });
  return put.padEnd(bytes, ' ');
}

for (const pieces of [requestBodyChunksMax, requestBodyChunksMax + 1]) {
  const served = pieces <= requestBodyChunksMax;
  test(`a body in ${pieces} one-byte pieces (HTTP/1.1 chunks, HTTP/2 DATA frames) is ${served ? 'served whole' : 'refused 413 and recorded, unserved'}`, async () => {
    const agents = { h1: `pieces-h1/${randomUUID()}`, h2: `pieces-h2/${randomUUID()}` };
    const h1Body = [...paddedPut(agents.h1, pieces)].map((byte) => `1\r\n${byte}\r\n`).join('');
    const h1Answer = await sendRaw([`POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nUser-Agent: ${agents.h1}\r\nContent-Type: application/json\r\nConnection: close\r\n`
      + `Transfer-Encoding: chunked\r\n\r\n${h1Body}0\r\n\r\n`]);
    assert.match(h1Answer, served ? /^HTTP\/1\.1 200 / : /^HTTP\/1\.1 413 /);
    const headers = Buffer.concat([Buffer.from([0x83, 0x87, 0x04, 10]), Buffer.from('/v3/kv/put'), Buffer.from([0x01, 9]), Buffer.from('127.0.0.1'),
      hpackLiteral('content-type', 'application/json'), hpackLiteral('user-agent', agents.h2)]);
    const frames = [...Buffer.from(paddedPut(agents.h2, pieces))].map((byte, i) => h2Frame(h2Data, i === pieces - 1 ? h2EndStream : 0, 1, Buffer.from([byte])));
    const socket = connect({ ...clientTls, ALPNProtocols: ['h2'] }, () => {
      socket.write(Buffer.concat([h2Preface, h2EmptySettings, h2Frame(h2Headers, h2EndHeaders, 1, headers), ...frames]));
    });
    socket.on('error', () => undefined);
    try {
      const recorded = async () => (await m1.events()).filter((e) => e.userAgent === agents.h1 || e.userAgent === agents.h2);
      await waitUntil(async () => (await recorded()).length === 2, 10_000, 'both requests recorded');
      const events = await recorded();
      const status = served ? 200 : 413;
      assert.deepEqual(events.map((e) => [e.userAgent === agents.h1 ? 'h1' : 'h2', e.responseStatus?.code, e.user.username]).sort(),
        [['h1', status, 'admin'], ['h2', status, 'admin']], JSON.stringify(events));
    } finally {
      socket.destroy();
    }
  });
}

test('an HTTP/2 client that resets every stream it opens (rapid reset) is not served those requests, and its connection is closed past grpcResetStreamsMax with one audit event', async () => {
  const eventsBefore = await eventsSoFar();
  const takenBefore = taken;
  const count = grpcResetStreamsMax + 50;
  const cancel = Buffer.from([0, 0, 0, 0x8]);
  const frames = Array.from({ length: count }, (_, i) => Buffer.concat([
    h2Frame(h2Headers, h2EndStream | h2EndHeaders, 2 * i + 1, getVersionBlock), h2Frame(h2RstStream, 0, 2 * i + 1, cancel),
  ]));
  assert.equal(await h2Raw(frames, 10_000), true, 'the member closed the connection');
  assert.ok(taken - takenBefore < grpcResetStreamsMax, `${taken - takenBefore} of ${count} reset requests were taken`);
  const events = await eventsSince(eventsBefore);
  const closing = events.filter((e) => e.responseStatus?.code === 429);
  assert.equal(closing.length, 1, JSON.stringify(events.slice(0, 3)));
  assert.deepEqual([closing[0]!.user.username, closing[0]!.annotations?.['authorization.k8s.io/decision']], ['admin', 'forbid']);
  assert.match(closing[0]!.annotations?.['authorization.k8s.io/reason'] ?? '', new RegExp(`^stream resets: more than ${grpcResetStreamsMax} streams reset by the client within \\d+ s; the connection is closed`));
});

test('an HTTP/2 connection node ends for breaking the protocol (a CONTINUATION flood) leaves one audit event naming why', async () => {
  const eventsBefore = await eventsSoFar();
  const continuation = h2Frame(h2Continuation, 0, 1, Buffer.from([0x40, 1, 0x78, 1, 0x78]));
  const frames = [h2Frame(h2Headers, h2EndStream, 1, Buffer.from([0x82, 0x87])), ...Array.from({ length: 10_000 }, () => continuation)];
  assert.equal(await h2Raw(frames, 10_000), true, 'the member closed the connection');
  const events = (await eventsSince(eventsBefore)).filter((e) => e.responseStatus?.code === 400);
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.deepEqual([events[0]!.user.username, events[0]!.verb, events[0]!.requestURI], ['admin', '', '']);
  assert.match(events[0]!.annotations?.['authorization.k8s.io/reason'] ?? '', /^protocol error: ERR_HTTP2_\w+: /);
});

test('a connection that completes no request is closed after the header timeout, in HTTP/2 as in HTTP/1.1, and leaves one audit event; one that did stays open', async () => {
  const recordedBefore = (await unreceivedRecords()).length;
  const withinMs = apiHeadersTimeoutMs + 2 * apiTimeoutCheckIntervalMs + 1_000;
  // A session whose request completed is kept alive (as an HTTP/1.1 keep-alive connection is) past that deadline.
  const kept = connectHttp2(`https://127.0.0.1:${port}`, { ...clientTls, ALPNProtocols: ['h2'] });
  let keptClosed = false;
  kept.once('close', () => { keptClosed = true; });
  const answered = await new Promise<number>((resolve, reject) => {
    const stream = kept.request({ ':method': 'GET', ':path': '/version' });
    stream.on('response', (headers) => resolve(Number(headers[':status'])));
    stream.on('error', reject);
    stream.resume();
  });
  assert.equal(answered, 200);
  const closed = await Promise.all([
    closedWithin('http/1.1', Buffer.alloc(0), withinMs),
    closedWithin('h2', Buffer.alloc(0), withinMs),
    closedWithin('h2', Buffer.concat([h2Preface, h2EmptySettings]), withinMs),
    closedWithin('h2', Buffer.concat([h2Preface, h2EmptySettings, h2OpenHeaderBlock]), withinMs),
  ]);
  assert.deepEqual(closed, [true, true, true, true], 'silent HTTP/1.1, silent h2, h2 preface alone, h2 header block never ended');
  assert.equal(keptClosed, false, 'the session that completed a request was closed at the header timeout');
  // Each closed connection was recorded before it was closed, under its certificate's user.
  const recorded = (await unreceivedRecords()).slice(recordedBefore);
  assert.equal(recorded.length, 4, JSON.stringify(recorded));
  for (const event of recorded) {
    assert.deepEqual([event.user.username, event.stage, event.annotations?.['authorization.k8s.io/decision']], ['admin', 'ResponseComplete', 'forbid']);
    assert.match(event.annotations?.['authorization.k8s.io/reason'] ?? '', /^request timeout/);
  }
  kept.close();
});

/** Each answer's status line in what a connection received (a body before it ends in no newline). */
const statusesOf = (answer: string): number[] => [...answer.matchAll(/HTTP\/1\.1 (\d{3}) [A-Z]/g)].map((m) => Number(m[1]));
const pipelined = (count: number): string => 'GET /version HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(count - 1) + 'GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

test('requests pipelined on one HTTP/1.1 connection are served at most apiPipelinedRequestsMax at a time; those beyond are answered 429 in order, each with one audit event', async () => {
  const count = 2 * apiPipelinedRequestsMax - 1;
  servingMost = 0;
  const before = (await m1.events()).length;
  // One write, read by the member at once: the first apiPipelinedRequestsMax are served, the rest refused.
  const statuses = statusesOf(await sendRaw([pipelined(count)]));
  assert.deepEqual(statuses, [...Array<number>(apiPipelinedRequestsMax).fill(200), ...Array<number>(count - apiPipelinedRequestsMax).fill(429)]);
  assert.equal(servingMost, apiPipelinedRequestsMax);
  const events = (await m1.events()).slice(0, (await m1.events()).length - before);
  assert.equal(new Set(events.map((e) => e.auditID)).size, events.length, 'one event per request');
  const refusals = events.filter((e) => e.responseStatus?.code === 429);
  assert.equal(refusals.length, count - apiPipelinedRequestsMax);
  assert.ok(refusals.every((e) => e.user.username === 'admin' && e.verb === 'get' && e.requestURI === '/version'));
});

test('a connection with twice apiPipelinedRequestsMax requests in flight is closed after the refusal that says so; none of it is served beyond the limit', async () => {
  const count = 40 * apiPipelinedRequestsMax;
  servingMost = 0;
  const before = (await m1.events()).length;
  const statuses = statusesOf(await sendRaw([pipelined(count)]));
  assert.ok(statuses.length < count, 'the connection was closed');
  assert.ok(servingMost <= apiPipelinedRequestsMax, `${servingMost} requests of one connection were served at once`);
  const events = (await m1.events()).slice(0, (await m1.events()).length - before);
  assert.equal(new Set(events.map((e) => e.auditID)).size, events.length, 'one event per request');
  const closing = events.filter((e) => /the connection is closed/.test(e.annotations?.['authorization.k8s.io/reason'] ?? ''));
  assert.equal(closing.length, 1, 'one record says the connection was closed');
  assert.ok(events.filter((e) => e.responseStatus?.code === 429).length <= apiPipelinedRequestsMax, 'refusals past the limit are bounded');
});
