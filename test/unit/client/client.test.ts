/**
 * KvClient and its transport against tiny in-test HTTPS servers with real certificates from the
 * Coffer CA: the etcd JSON shapes on the wire, failover only for requests never sent (or reads),
 * deadlines, and the typed errors the fault checker relies on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientError, K8sClient, KvClient, prefixEnd, text, toBytes } from '../../../src/client/index.ts';
import { bootstrapCa, caLayout } from '../../../src/pki/index.ts';

/** The keep-alive timeout of the servers testing idle connections (they advertise it in seconds). */
const serverKeepAliveMs = 2_000;

type Handler = (body: Record<string, unknown>, req: IncomingMessage, res: ServerResponse) => void;

interface Pem { cert: string; key: string; ca: string }

let dir: string;
let serverPem: Pem;
let clientPem: Pem;
const servers: (HttpsServer | NetServer)[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-client-test-'));
  await bootstrapCa({ dir, members: ['m1'], admin: 'admin' });
  const layout = caLayout(dir);
  const ca = await readFile(layout.caCert, 'utf8');
  serverPem = { cert: await readFile(layout.memberCert('m1'), 'utf8'), key: await readFile(layout.memberKey('m1'), 'utf8'), ca };
  clientPem = { cert: await readFile(layout.clientCert('admin'), 'utf8'), key: await readFile(layout.clientKey('admin'), 'utf8'), ca };
});

after(async () => {
  for (const s of servers) s.close();
  await rm(dir, { recursive: true, force: true });
});

/** An HTTPS server requiring a client certificate from the CA; records each request it receives. */
async function server(handler: Handler): Promise<{ url: string; requests: { path: string; body: Record<string, unknown> }[]; server: HttpsServer }> {
  const requests: { path: string; body: Record<string, unknown> }[] = [];
  const s = createHttpsServer({ ...serverPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      requests.push({ path: req.url ?? '', body });
      handler(body, req, res);
    });
  });
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const address = s.address();
  assert.ok(address !== null && typeof address === 'object');
  return { url: `https://127.0.0.1:${address.port}`, requests, server: s };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const header = { cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: '7', raft_term: '3' };

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<string> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const address = s.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `https://127.0.0.1:${address.port}`;
}

/** A TCP server that accepts and never answers: the TLS handshake cannot complete (a paused member). */
async function silentServer(): Promise<{ url: string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const s = createNetServer((socket) => sockets.push(socket));
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const address = s.address();
  assert.ok(address !== null && typeof address === 'object');
  return { url: `https://127.0.0.1:${address.port}`, sockets };
}

async function rejection(promise: Promise<unknown>): Promise<ClientError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ClientError, `expected a ClientError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

describe('KvClient wire format (etcd 3.4 JSON gateway)', () => {
  test('put sends base64 key and value and decodes the header with int64 strings', async () => {
    const s = await server((_b, _q, res) => json(res, 200, { header, prev_kv: { key: 'YQ==', value: 'b2xk', create_revision: '2', mod_revision: '5', version: '3' } }));
    const client = new KvClient({ endpoints: [s.url], tls: clientPem });
    const result = await client.put('a', new Uint8Array([0, 255]), { prevKv: true });
    client.close();
    assert.deepEqual(s.requests, [{ path: '/v3/kv/put', body: { key: 'YQ==', value: 'AP8=', prev_kv: true } }]);
    // The gateway's uint64 cluster_id (decimal) as Coffer writes cluster IDs: 16 hex digits (coffer server --cluster-id).
    assert.deepEqual(result.header, { clusterId: 'cdf818194e3a8c32', memberId: '10276657743932975437', revision: 7, raftTerm: 3 });
    assert.equal(text(result.prevKv?.value ?? new Uint8Array()), 'old');
    assert.equal(result.prevKv?.modRevision, 5);
  });

  test('range with prefix sends range_end and reads omitted zero fields as defaults', async () => {
    const s = await server((_b, _q, res) => json(res, 200, { header, kvs: [{ key: 'YWI=', create_revision: '4', mod_revision: '4', version: '1' }], count: '1' }));
    const client = new KvClient({ endpoints: [s.url], tls: clientPem });
    const result = await client.range('ab', { prefix: true, serializable: true, revision: 4, limit: 10 });
    client.close();
    assert.deepEqual(s.requests[0]?.body, { key: 'YWI=', range_end: 'YWM=', serializable: true, revision: '4', limit: '10' });
    assert.equal(result.kvs.length, 1);
    assert.equal(result.kvs[0]?.value.length, 0, 'an omitted value is empty');
    assert.equal(result.count, 1);
    assert.equal(result.more, false);
  });

  test('txn encodes compares and request ops and decodes responses of each kind', async () => {
    const s = await server((_b, _q, res) => json(res, 200, {
      header, succeeded: true,
      responses: [{ response_put: { header: {} } }, { response_range: { header: {}, kvs: [{ key: 'aw==', value: 'dg==', version: '2' }], count: '1' } },
        { response_delete_range: { header: {}, deleted: '1' } }],
    }));
    const client = new KvClient({ endpoints: [s.url], tls: clientPem });
    const result = await client.txn({
      compare: [{ key: 'k', target: 'MOD', result: 'EQUAL', modRevision: 5 }, { key: 'k', target: 'VALUE', result: 'NOT_EQUAL', value: 'v' },
        { key: 'k', target: 'VERSION', result: 'GREATER', version: 0 }, { key: 'k', target: 'CREATE', result: 'LESS', createRevision: 9 }],
      success: [{ put: { key: 'k', value: 'w' } }, { range: { key: 'k' } }, { deleteRange: { key: 'k', prefix: true } }],
      failure: [{ range: { key: 'k', serializable: true } }],
    });
    client.close();
    assert.deepEqual(s.requests[0]?.body, {
      compare: [
        { key: 'aw==', target: 'MOD', result: 'EQUAL', mod_revision: '5' },
        { key: 'aw==', target: 'VALUE', result: 'NOT_EQUAL', value: 'dg==' },
        { key: 'aw==', target: 'VERSION', result: 'GREATER', version: '0' },
        { key: 'aw==', target: 'CREATE', result: 'LESS', create_revision: '9' },
      ],
      success: [{ request_put: { key: 'aw==', value: 'dw==' } }, { request_range: { key: 'aw==' } }, { request_delete_range: { key: 'aw==', range_end: 'bA==' } }],
      failure: [{ request_range: { key: 'aw==', serializable: true } }],
    });
    assert.equal(result.succeeded, true);
    assert.deepEqual(result.responses.map((r) => r.type), ['put', 'range', 'deleteRange']);
    const range = result.responses[1];
    assert.ok(range?.type === 'range');
    assert.equal(text(range.kvs[0]?.value ?? new Uint8Array()), 'v');
  });

  test('status, hashKv and memberList keep 64-bit ids exact as strings', async () => {
    const s = await server((_b, req, res) => {
      if (req.url === '/v3/maintenance/status') json(res, 200, { header, version: '3.4.23', dbSize: '20480', leader: '18446744073709551615', raftIndex: '9', raftTerm: '3', raftAppliedIndex: '9' });
      else if (req.url === '/v3/maintenance/hashkv') json(res, 200, { header, hash: 752818017, compact_revision: '3' });
      else json(res, 200, { header, members: [{ ID: '18446744073709551615', name: 'm1', peerURLs: ['https://127.0.0.1:1'], clientURLs: [] }] });
    });
    const client = new KvClient({ endpoints: [s.url], tls: clientPem });
    const status = await client.status();
    const hash = await client.hashKv(7);
    const members = await client.memberList();
    client.close();
    assert.equal(status.leader, '18446744073709551615');
    assert.equal(status.raftAppliedIndex, 9);
    assert.deepEqual({ hash: hash.hash, compactRevision: hash.compactRevision }, { hash: '752818017', compactRevision: 3 });
    assert.deepEqual(s.requests[1]?.body, { revision: '7' });
    assert.equal(members.members[0]?.id, '18446744073709551615');
  });

  test('a response field of the wrong type fails with BAD_RESPONSE', async () => {
    const s = await server((_b, _q, res) => json(res, 200, { header: { revision: 'seven' } }));
    const client = new KvClient({ endpoints: [s.url], tls: clientPem });
    const error = await rejection(client.range('a'));
    client.close();
    assert.equal(error.code, 'BAD_RESPONSE');
  });

  test('prefixEnd increments the last byte below 0xff and drops what follows', () => {
    assert.deepEqual(prefixEnd('ab'), toBytes('ac'));
    assert.deepEqual(prefixEnd(new Uint8Array([1, 0xff, 0xff])), new Uint8Array([2]));
    assert.deepEqual(prefixEnd(new Uint8Array([0xff])), new Uint8Array([0]));
  });
});

describe('KvClient errors and failover', () => {
  test('a 4xx answer is REJECTED (definite) with the gRPC code; a 5xx answer is SERVER (indeterminate)', async () => {
    const s = await server((body, _q, res) => {
      if (body.key === 'YQ==') json(res, 400, { error: 'etcdserver: mvcc: required revision has been compacted', code: 11, message: 'etcdserver: mvcc: required revision has been compacted' });
      else json(res, 503, { error: 'etcdserver: no leader', code: 14, message: 'etcdserver: no leader' });
    });
    const client = new KvClient({ endpoints: [s.url], tls: clientPem });
    const rejected = await rejection(client.put('a', 'secret-value-1'));
    const unavailable = await rejection(client.put('b', 'secret-value-2'));
    client.close();
    assert.deepEqual([rejected.code, rejected.status, rejected.grpcCode, rejected.indeterminate], ['REJECTED', 400, 11, false]);
    assert.deepEqual([unavailable.code, unavailable.status, unavailable.grpcCode, unavailable.indeterminate], ['SERVER', 503, 14, true]);
    assert.ok(!rejected.message.includes('secret-value') && !unavailable.message.includes('secret-value'), 'errors never carry values');
  });

  test('a refused endpoint is skipped: the write goes to the next one', async () => {
    const refused = await closedPort();
    const s = await server((_b, _q, res) => json(res, 200, { header }));
    const client = new KvClient({ endpoints: [refused, s.url], tls: clientPem });
    await client.put('a', '1');
    await client.put('a', '2');
    client.close();
    assert.equal(s.requests.length, 2);
  });

  test('an endpoint whose TLS handshake never completes is UNAVAILABLE after the connect timeout, and the next endpoint serves', async () => {
    const silent = await silentServer();
    const s = await server((_b, _q, res) => json(res, 200, { header }));
    const alone = new KvClient({ endpoints: [silent.url], tls: clientPem, connectTimeoutMs: 200, requestTimeoutMs: 5_000 });
    const error = await rejection(alone.put('a', '1'));
    alone.close();
    assert.deepEqual([error.code, error.indeterminate], ['UNAVAILABLE', false]);
    const client = new KvClient({ endpoints: [silent.url, s.url], tls: clientPem, connectTimeoutMs: 200 });
    await client.put('a', '1');
    await client.put('a', '2');
    client.close();
    assert.equal(s.requests.length, 2);
    assert.equal(silent.sockets.length, 2, 'one connection attempt from each client: the second request went straight to the endpoint that answered');
    for (const socket of silent.sockets) socket.destroy();
  });

  test('a sent write that gets no answer in time is TIMEOUT, indeterminate, and not retried elsewhere', async () => {
    const hanging = await server(() => undefined);
    const other = await server((_b, _q, res) => json(res, 200, { header }));
    const client = new KvClient({ endpoints: [hanging.url, other.url], tls: clientPem, requestTimeoutMs: 300 });
    const error = await rejection(client.put('a', '1'));
    client.close();
    assert.deepEqual([error.code, error.indeterminate], ['TIMEOUT', true]);
    assert.equal(hanging.requests.length, 1);
    assert.equal(other.requests.length, 0, 'a possibly applied write must not be sent again');
    hanging.server.closeAllConnections();
  });

  test('a connection lost after a write was sent is CONNECTION_LOST and not retried; a read is retried on the next endpoint', async () => {
    const breaking = await server((_b, req) => req.socket.destroy());
    const other = await server((_b, _q, res) => json(res, 200, { header, kvs: [], count: '0' }));
    const client = new KvClient({ endpoints: [breaking.url, other.url], tls: clientPem });
    const error = await rejection(client.put('a', '1'));
    assert.deepEqual([error.code, error.indeterminate], ['CONNECTION_LOST', true]);
    assert.equal(other.requests.length, 0);
    const read = await client.range('a');
    client.close();
    assert.equal(read.count, 0);
    assert.equal(breaking.requests.length, 2);
    assert.equal(other.requests.length, 1);
  });

  test('a write that waited for a busy keep-alive connection is sent once it has it: a loss then is CONNECTION_LOST and not retried', async () => {
    // One socket per endpoint: the second write waits in the agent's queue and is handed the socket the
    // first one used, whose TLS handshake finished long before.
    const breaking = await server((body, req, res) => (body.key === 'YQ==' ? json(res, 200, { header }) : req.socket.destroy()));
    const other = await server((_b, _q, res) => json(res, 200, { header }));
    const client = new KvClient({ endpoints: [breaking.url, other.url], tls: clientPem, socketsPerEndpointMax: 1 });
    const [first, second] = await Promise.allSettled([client.put('a', '1'), rejection(client.put('b', '2'))]);
    client.close();
    assert.equal(first.status, 'fulfilled');
    assert.equal(second.status, 'fulfilled', second.status === 'rejected' ? String(second.reason) : '');
    assert.deepEqual([second.value.code, second.value.indeterminate], ['CONNECTION_LOST', true]);
    assert.equal(breaking.requests.length, 2, 'both writes reached the first endpoint, over one connection');
    assert.equal(other.requests.length, 0, 'a possibly applied write must not be sent again');
  });

  // A server closes a keep-alive connection it has held idle for its keep-alive timeout; a request the
  // client sends on it at that moment is lost (ECONNRESET after sending: CONNECTION_LOST, a write's outcome
  // unknown). The server names its timeout in every answer (`Keep-Alive: timeout=N`), and the client must
  // drop an idle connection before then. Node's agent takes that hint only when it has an idle timeout of
  // its own, which it has none of by default.
  for (const [name, oneRequest] of [
    ['KvClient', (url: string) => { const c = new KvClient({ endpoints: [url], tls: clientPem }); return { call: () => c.put('a', '1'), close: () => c.close() }; }],
    ['K8sClient', (url: string) => { const c = new K8sClient({ endpoints: [url], tls: clientPem }); return { call: () => c.get('namespaces', 'default'), close: () => c.close() }; }],
  ] as const) {
    test(`${name} closes an idle keep-alive connection before the server's advertised keep-alive timeout, so it never reuses one the server is closing`, async () => {
      const s = await server((_b, _q, res) => json(res, 200, { header, kind: 'Namespace', metadata: { name: 'default' } }));
      s.server.keepAliveTimeout = serverKeepAliveMs;
      const firstClose = new Promise<'client' | 'server'>((resolve) => {
        s.server.once('secureConnection', (socket: Socket) => {
          socket.once('end', () => resolve('client'));
          socket.once('close', () => resolve('server'));
        });
      });
      const client = oneRequest(s.url);
      try {
        await client.call();
        assert.equal(await firstClose, 'client', 'the client ends its idle connection before the server times it out');
      } finally {
        client.close();
      }
    });
  }

  test('a server certificate from another CA is refused: UNAVAILABLE, nothing sent', async () => {
    const otherDir = await mkdtemp(join(tmpdir(), 'coffer-client-test-other-'));
    try {
      await bootstrapCa({ dir: otherDir, members: ['m1'], admin: 'admin' });
      const s = await server((_b, _q, res) => json(res, 200, { header }));
      const foreignCa = await readFile(caLayout(otherDir).caCert, 'utf8');
      const client = new KvClient({ endpoints: [s.url], tls: { ...clientPem, ca: foreignCa } });
      const error = await rejection(client.put('a', '1'));
      client.close();
      assert.equal(error.code, 'UNAVAILABLE');
      assert.equal(s.requests.length, 0);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });
});

test('a key that is not the certificate\'s is refused when the client is built, naming the problem', () => {
  assert.throws(() => new KvClient({ endpoints: ['https://127.0.0.1:1'], tls: { ...clientPem, key: serverPem.key } }),
    (error: unknown) => error instanceof TypeError && /^the client's TLS material cannot be used: .*key values mismatch/.test(error.message));
  assert.throws(() => new K8sClient({ endpoints: ['https://127.0.0.1:1'], tls: { ...clientPem, key: serverPem.key } }), TypeError);
});
