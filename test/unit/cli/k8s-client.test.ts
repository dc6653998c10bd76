/**
 * K8sClient against a tiny in-test HTTPS server with real certificates from the Coffer CA: the paths,
 * methods and content types it sends, Status answers as K8sApiError, listAll following continue
 * tokens, watch lines (and an ERROR event) as events, and failover past an endpoint that refuses.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientError, isK8sApiError, K8sApiError, K8sClient, type K8sWatchEvent } from '../../../src/client/index.ts';
import { runCli } from '../../../src/cli/index.ts';
import { bootstrapCa, caLayout } from '../../../src/pki/index.ts';

interface Seen { method: string; url: string; contentType: string | undefined; body: string }
type Handler = (seen: Seen, res: ServerResponse, req: IncomingMessage) => void;

let dir: string;
let serverTls: { cert: string; key: string; ca: string };
let clientTls: { cert: string; key: string; ca: string };
const servers: Server[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-k8s-client-'));
  await bootstrapCa({ dir, members: ['m1'], hosts: ['127.0.0.1'], admin: 'admin' });
  const layout = caLayout(dir);
  const ca = await readFile(layout.caCert, 'utf8');
  serverTls = { cert: await readFile(layout.memberCert('m1'), 'utf8'), key: await readFile(layout.memberKey('m1'), 'utf8'), ca };
  clientTls = { cert: await readFile(layout.clientCert('admin'), 'utf8'), key: await readFile(layout.clientKey('admin'), 'utf8'), ca };
});

after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await rm(dir, { recursive: true, force: true });
});

async function serve(handler: Handler): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const s = createServer({ ...serverTls, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const one = { method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') };
      seen.push(one);
      handler(one, res, req);
    });
  });
  servers.push(s);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as { port: number };
  return { url: `https://127.0.0.1:${port}`, seen };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const secret = (name: string, rv = '5') => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default', resourceVersion: rv }, data: { a: 'Yg==' } });

test('each call uses the Kubernetes path, method and content type', async () => {
  const { url, seen } = await serve((one, res) => {
    if (one.method === 'DELETE') json(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
    else if (one.url.includes('/clusterroles')) json(res, 200, { kind: 'ClusterRoleList', apiVersion: 'rbac.authorization.k8s.io/v1', metadata: {}, items: [] });
    else json(res, one.method === 'POST' ? 201 : 200, secret('db'));
  });
  const client = new K8sClient({ endpoints: [url], tls: clientTls });
  try {
    assert.equal((await client.get('secrets', 'db', { namespace: 'default' })).metadata.name, 'db');
    await client.create('secrets', secret('db'), { namespace: 'default' });
    await client.update('secrets', 'db', secret('db', '7'), { namespace: 'default' });
    await client.patch('secrets', 'db', { data: { b: 'Yw==' } }, { namespace: 'default' });
    await client.patch('secrets', 'db', [{ op: 'remove', path: '/data/a' }], { namespace: 'default', type: 'json' });
    await client.delete('secrets', 'db', { namespace: 'default', resourceVersion: '7' });
    await client.list('clusterroles', { labelSelector: 'a=b', limit: 2 });
    await client.get('namespaces', 'team-a');
  } finally {
    client.close();
  }
  assert.deepEqual(seen.map((s) => `${s.method} ${s.url} ${s.contentType ?? '-'}`), [
    'GET /api/v1/namespaces/default/secrets/db -',
    'POST /api/v1/namespaces/default/secrets application/json',
    'PUT /api/v1/namespaces/default/secrets/db application/json',
    'PATCH /api/v1/namespaces/default/secrets/db application/merge-patch+json',
    'PATCH /api/v1/namespaces/default/secrets/db application/json-patch+json',
    'DELETE /api/v1/namespaces/default/secrets/db application/json',
    'GET /apis/rbac.authorization.k8s.io/v1/clusterroles?labelSelector=a%3Db&limit=2 -',
    'GET /api/v1/namespaces/team-a -',
  ]);
  assert.deepEqual(JSON.parse(seen[5]?.body ?? ''), { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: '7' } });
});

test('a namespaced call without a namespace is refused before anything is sent', async () => {
  const { url, seen } = await serve((_one, res) => json(res, 200, secret('x')));
  const client = new K8sClient({ endpoints: [url], tls: clientTls });
  try {
    await assert.rejects(client.get('secrets', 'db'), /secrets are namespaced: a namespace is required/);
    assert.equal(seen.length, 0);
  } finally {
    client.close();
  }
});

test('a Status answer becomes a K8sApiError with reason, code, message and details', async () => {
  const { url } = await serve((_one, res) => json(res, 403, {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403,
    message: 'secrets "db" is forbidden: User "dave" cannot get resource "secrets"', details: { name: 'db', kind: 'secrets' },
  }));
  const client = new K8sClient({ endpoints: [url], tls: clientTls });
  try {
    const error = await client.get('secrets', 'db', { namespace: 'default' }).then(() => undefined, (e: unknown) => e);
    assert.ok(isK8sApiError(error));
    assert.equal(error.reason, 'Forbidden');
    assert.equal(error.code, 403);
    assert.equal(error.message, 'secrets "db" is forbidden: User "dave" cannot get resource "secrets"');
    assert.deepEqual(error.details, { name: 'db', kind: 'secrets' });
    assert.equal(error.indeterminate, false);
  } finally {
    client.close();
  }
});

test('a non-Status error answer is a ClientError naming the HTTP status', async () => {
  const { url } = await serve((_one, res) => json(res, 502, { message: 'bad gateway' }));
  const client = new K8sClient({ endpoints: [url], tls: clientTls });
  try {
    await assert.rejects(client.list('namespaces'), (e: unknown) => e instanceof ClientError && e.code === 'SERVER' && /HTTP 502: bad gateway/.test(e.message));
  } finally {
    client.close();
  }
});

test('listAll follows continue tokens and returns one list with the first page\'s resourceVersion', async () => {
  const { url, seen } = await serve((one, res) => {
    const token = new URL(one.url, 'https://x').searchParams.get('continue');
    if (token === null) json(res, 200, { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '40', continue: 'p2' }, items: [secret('a')] });
    else if (token === 'p2') json(res, 200, { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '40', continue: 'p3' }, items: [secret('b')] });
    else json(res, 200, { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '40' }, items: [secret('c')] });
  });
  const client = new K8sClient({ endpoints: [url], tls: clientTls });
  try {
    const list = await client.listAll('secrets');
    assert.deepEqual(list.items.map((i) => i.metadata.name), ['a', 'b', 'c']);
    assert.deepEqual(list.metadata, { resourceVersion: '40' });
    assert.equal(list.kind, 'SecretList');
    assert.equal(seen[0]?.url, '/api/v1/secrets?limit=500');
    assert.equal(seen.length, 3);
  } finally {
    client.close();
  }
});

test('watch yields one event per line, split across chunks, and throws an ERROR event as K8sApiError', async () => {
  const { url, seen } = await serve((_one, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    // A multi-byte character split between two chunks must come out whole.
    const added = Buffer.from(JSON.stringify({ type: 'ADDED', object: { ...secret('a', '8'), metadata: { name: 'a', resourceVersion: '8', annotations: { note: 'é€' } } } }));
    const cut = added.indexOf(Buffer.from('€')) + 1;
    res.write(added.subarray(0, cut));
    res.write(Buffer.concat([added.subarray(cut), Buffer.from(`\n${JSON.stringify({ type: 'DELETED', object: secret('a', '9') })}\n`)]));
    res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Expired', code: 410, message: 'too old resource version' } })}\n`);
  });
  const client = new K8sClient({ endpoints: [url], tls: clientTls });
  try {
    const watch = await client.watch('secrets', { namespace: 'default', resourceVersion: '7' });
    const events: K8sWatchEvent[] = [];
    await assert.rejects((async () => {
      for await (const event of watch) events.push(event);
    })(), (e: unknown) => e instanceof K8sApiError && e.reason === 'Expired' && e.code === 410);
    assert.deepEqual(events.map((e) => `${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`), ['ADDED a 8', 'DELETED a 9']);
    assert.equal(events[0]?.object.metadata.annotations?.note, 'é€');
    assert.equal(seen[0]?.url, '/api/v1/namespaces/default/secrets?watch=true&resourceVersion=7');
  } finally {
    client.close();
  }
});

test('a watch refused by the server rejects when opened; close() ends an open watch quietly', async () => {
  const { url } = await serve((one, res) => {
    if (one.url.includes('/configmaps')) {
      json(res, 403, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403, message: 'configmaps is forbidden' });
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(`${JSON.stringify({ type: 'ADDED', object: secret('a') })}\n`); // and the stream stays open
  });
  const client = new K8sClient({ endpoints: [url], tls: clientTls });
  try {
    await assert.rejects(client.watch('configmaps'), (e: unknown) => isK8sApiError(e) && e.reason === 'Forbidden');
    const watch = await client.watch('secrets');
    const names: string[] = [];
    for await (const event of watch) {
      names.push(event.object.metadata.name);
      watch.close();
    }
    assert.deepEqual(names, ['a']);
  } finally {
    client.close();
  }
});

test('a request moves on from an endpoint that refuses connections', async () => {
  const probe = createNetServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port: closedPort } = probe.address() as { port: number };
  probe.close();
  await once(probe, 'close');
  const { url } = await serve((_one, res) => json(res, 201, secret('db')));
  const client = new K8sClient({ endpoints: [`https://127.0.0.1:${closedPort}`, url], tls: clientTls });
  try {
    assert.equal((await client.create('secrets', secret('db'), { namespace: 'default' })).metadata.name, 'db');
  } finally {
    client.close();
  }
});

test('an answer whose body does not finish before the deadline is a TIMEOUT (indeterminate)', async () => {
  const { url } = await serve((_one, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"kind":'); // and never the rest
  });
  const client = new K8sClient({ endpoints: [url], tls: clientTls, requestTimeoutMs: 300 });
  try {
    await assert.rejects(client.create('secrets', secret('db'), { namespace: 'default' }),
      (e: unknown) => e instanceof ClientError && e.code === 'TIMEOUT' && e.indeterminate);
  } finally {
    client.close();
  }
});

/** Runs the CLI in-process with captured output. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (t) => { out += t; }, err: (t) => { err += t; }, env: {} });
  return { code, out, err };
}

test('the CLI prints a Status error, an unreachable member and an unreadable credential each as one line, exit 1', async () => {
  const layout = caLayout(dir);
  const { url } = await serve((_one, res) => json(res, 404, {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'NotFound', code: 404, message: 'secrets "db" not found',
  }));
  const credentials = ['--cacert', layout.caCert, '--cert', layout.clientCert('admin'), '--key', layout.clientKey('admin')];
  assert.deepEqual(await cli(['--endpoints', url, ...credentials, 'secret', 'get', 'db']), { code: 1, out: '', err: 'coffer: secrets "db" not found\n' });

  const probe = createNetServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  probe.close();
  await once(probe, 'close');
  const unreachable = await cli(['--endpoints', `https://127.0.0.1:${port}`, ...credentials, 'namespace', 'list']);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.err, /^coffer: https:\/\/127\.0\.0\.1:\d+: cannot connect: nothing accepts connections there: is the member running, and is the port its client port\? \(ECONNREFUSED\)\n$/);

  const missing = await cli(['--endpoints', url, '--cacert', join(dir, 'nope.crt'), '--cert', layout.clientCert('admin'), '--key', layout.clientKey('admin'), 'configmap', 'list']);
  assert.deepEqual(missing, { code: 1, out: '', err: `coffer: missing file: ${join(dir, 'nope.crt')} (give --cacert, --cert and --key, or COFFER_CACERT, COFFER_CERT and COFFER_KEY)\n` });
});

test('secret create and configmap create send a file named __proto__ under that key, as kubectl does', async () => {
  const layout = caLayout(dir);
  const { url, seen } = await serve((one, res) => json(res, 201, JSON.parse(one.body)));
  const credentials = ['--endpoints', url, '--cacert', layout.caCert, '--cert', layout.clientCert('admin'), '--key', layout.clientKey('admin')];
  const files = await mkdtemp(join(tmpdir(), 'coffer-proto-file-'));
  const own = (map: unknown, key: string) => Object.entries(map as Record<string, string>).find(([k]) => k === key)?.[1];
  try {
    const text = join(files, 'text');
    const binary = join(files, 'binary');
    await mkdir(text);
    await mkdir(binary);
    await writeFile(join(text, '__proto__'), 'value');
    await writeFile(join(text, 'other'), 'x');
    await writeFile(join(binary, '__proto__'), Buffer.from([0xff, 0xfe]));
    assert.equal((await cli([...credentials, 'secret', 'create', 's', '--from-file', join(text, '__proto__'), '--from-literal', 'a=b'])).code, 0);
    assert.equal((await cli([...credentials, 'configmap', 'create', 'c', '--from-file', join(text, '__proto__'), '--from-file', join(text, 'other')])).code, 0);
    assert.equal((await cli([...credentials, 'configmap', 'create', 'd', '--from-file', join(binary, '__proto__'), '--from-file', join(text, 'other')])).code, 0);
  } finally {
    await rm(files, { recursive: true, force: true });
  }
  const [s, c, d] = seen.map((one) => JSON.parse(one.body) as { data?: unknown; binaryData?: unknown });
  assert.deepEqual(Object.keys(s?.data ?? {}).sort(), ['__proto__', 'a']);
  assert.equal(own(s?.data, '__proto__'), Buffer.from('value').toString('base64'));
  assert.deepEqual(Object.keys(c?.data ?? {}).sort(), ['__proto__', 'other']);
  assert.equal(own(c?.data, '__proto__'), 'value');
  assert.deepEqual([Object.keys(d?.data ?? {}), Object.keys(d?.binaryData ?? {})], [['other'], ['__proto__']]);
  assert.equal(own(d?.binaryData, '__proto__'), Buffer.from([0xff, 0xfe]).toString('base64'));
});

test('a member certificate the CA in --cacert did not issue is said in words, with the TLS code', async () => {
  const { url } = await serve((_one, res) => json(res, 200, { kind: 'NamespaceList', apiVersion: 'v1', metadata: {}, items: [] }));
  const other = await mkdtemp(join(tmpdir(), 'coffer-other-ca-'));
  try {
    // Another CA with its own admin: the client's credentials pass their own check, the member's certificate does not.
    await bootstrapCa({ dir: other, members: [], hosts: ['127.0.0.1'], admin: 'admin' });
    const layout = caLayout(other);
    const wrongCa = await cli(['--endpoints', url, '--cacert', layout.caCert, '--cert', layout.clientCert('admin'), '--key', layout.clientKey('admin'), 'namespace', 'list']);
    assert.equal(wrongCa.code, 1);
    assert.match(wrongCa.err, /^coffer: https:\/\/127\.0\.0\.1:\d+: cannot connect: the member's certificate was not issued by the CA in --cacert \(COFFER_CACERT\): give the CA of the cluster you mean to reach \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)\n$/);
  } finally {
    await rm(other, { recursive: true, force: true });
  }
  const ours = caLayout(dir);
  const byName = await cli(['--endpoints', url.replace('127.0.0.1', 'localhost'), '--cacert', ours.caCert, '--cert', ours.clientCert('admin'), '--key', ours.clientKey('admin'), 'namespace', 'list']);
  assert.match(byName.err, /^coffer: https:\/\/localhost:\d+: cannot connect: the member's certificate does not name the host of the endpoint: .* \(ERR_TLS_CERT_ALTNAME_INVALID\)\n$/);
});

test('the CLI\'s writes name their field manager: ?fieldManager=coffer, as kubectl sends kubectl-create', async () => {
  const layout = caLayout(dir);
  const { url, seen } = await serve((one, res) => (one.method === 'GET' ? json(res, 200, secret('s')) : json(res, 201, { ...secret('s'), ...(one.body === '' ? {} : JSON.parse(one.body) as object) })));
  const credentials = ['--endpoints', url, '--cacert', layout.caCert, '--cert', layout.clientCert('admin'), '--key', layout.clientKey('admin')];
  assert.equal((await cli([...credentials, 'secret', 'create', 's', '--from-literal', 'a=b'])).code, 0);
  assert.equal((await cli([...credentials, 'configmap', 'create', 'c', '--from-literal', 'a=b'])).code, 0);
  assert.equal((await cli([...credentials, 'secret', 'rotate', 's', '--generate', 'a'])).code, 0);
  assert.equal((await cli([...credentials, 'secret', 'get', 's'])).code, 0);
  assert.deepEqual(seen.map((one) => `${one.method} ${one.url}`), [
    'POST /api/v1/namespaces/default/secrets?fieldManager=coffer',
    'POST /api/v1/namespaces/default/configmaps?fieldManager=coffer',
    'POST /apis/coffer.dev/v1/namespaces/default/secrets/s/rotate?fieldManager=coffer',
    'GET /api/v1/namespaces/default/secrets/s',
  ]);
});
