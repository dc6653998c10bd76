// A LeaseKeepAlive stream reads its client only as fast as it renews: renewals run one at a time, and
// once leaseKeepAlivesQueuedMax wait the member reads no more of the stream, so HTTP/2 flow control holds
// the client back (as etcd reads a stream's next keep-alive only after answering the last). It used to
// queue every distinct lease ID as fast as the client sent them: 2.1 million IDs grew the member's heap
// by 103 MiB, each to cost a linearizable read and a Raft proposal later, leases that do not exist too.
// A renewal of a lease the member does not hold is answered TTL 0, as etcd answers, and proposes nothing.
// Over the member's real listener and TLS, since flow control is what bounds the stream.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { KvBackend } from '../../../src/api/index.ts';
import { decode, encode, FrameReader, frame, int64, messageType } from '../../../src/etcdpb/index.ts';
import type { WriteOp } from '../../../src/storage/mvcc/index.ts';
import { grpcCall, grpcSession } from '../../support/grpc-stream.ts';
import { startTlsMember, type TlsMember } from './tls-member.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let member: TlsMember;
let child: ChildProcess | undefined;
/** Proposals of the API on the member, by type. */
const proposed: WriteOp['type'][] = [];
/** While set, every linearizable read of the API waits for it: renewals are slower than any client. */
let held: Promise<void> | undefined;

function seams(backend: KvBackend): KvBackend {
  return {
    ...backend,
    propose: (op, audit) => {
      proposed.push(op.type);
      return backend.propose(op, audit);
    },
    linearizableBarrier: async () => {
      await held;
      return backend.linearizableBarrier();
    },
  };
}

before(async () => {
  member = await startTlsMember({ granted: { leaser: [{ nonResourceURLs: ['/etcdserverpb.Lease/*'], verbs: ['post'] }] }, wrapBackend: seams });
});

after(async () => {
  child?.kill('SIGKILL');
  await member.close();
});

/** IDs the client sends: 3 million distinct ones, about 48 MB of gRPC frames. */
const ids = 3_000_000;
/** What the member's heap may grow by while it holds such a stream (a bounded queue costs far less). */
const heapGrowthBytesMax = 32 * 1024 * 1024;

// The client: one LeaseKeepAlive stream, IDs 1..N as fast as the member reads them. Once the member has
// read nothing for a second (it pushes back), the client stops and says how many it wrote.
const clientSource = `
const http2 = require('node:http2');
const opts = JSON.parse(process.env.CLIENT_TLS);
const n = Number(process.env.CLIENT_IDS);
const session = http2.connect('https://127.0.0.1:' + opts.port, { ...opts, ALPNProtocols: ['h2'] });
session.on('error', () => {});
const stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.Lease/LeaseKeepAlive', 'content-type': 'application/grpc', te: 'trailers' });
stream.on('error', () => {});
stream.on('data', () => {});
let ended = false;
stream.on('close', () => { ended = true; });
function frameOf(id) {
  const v = [0x08]; let x = id; while (x >= 0x80) { v.push((x & 0x7f) | 0x80); x = Math.floor(x / 128); } v.push(x);
  const b = Buffer.alloc(5 + v.length); b.writeUInt32BE(v.length, 1); Buffer.from(v).copy(b, 5); return b;
}
(async () => {
  let sent = 0;
  const batch = [];
  for (let id = 1; id <= n && !ended; id++) {
    batch.push(frameOf(1000000 + id));
    if (batch.length < 10000 && id < n) continue;
    const ok = stream.write(Buffer.concat(batch)); sent += batch.length; batch.length = 0;
    if (!ok) {
      const drained = await new Promise((r) => { const t = setTimeout(() => r(false), 1000); stream.once('drain', () => { clearTimeout(t); r(true); }); });
      if (!drained) { process.stdout.write('pushed-back ' + sent + '\\n'); return; }
    }
  }
  await new Promise((r) => { const check = () => (ended || stream.writableLength === 0 ? setTimeout(r, 500) : setTimeout(check, 50)); check(); });
  process.stdout.write((ended ? 'ended ' : 'sent ') + sent + '\\n');
})();
`;

test('a LeaseKeepAlive stream cannot grow the member\'s memory: while renewals wait, the member stops reading it', { timeout: 30_000 }, async () => {
  let release = () => {};
  held = new Promise((resolve) => { release = resolve; });
  gc();
  const before = process.memoryUsage().heapUsed;
  const tls = { port: member.port, ...member.users.leaser };
  child = spawn(process.execPath, ['-e', clientSource], { env: { ...process.env, CLIENT_TLS: JSON.stringify(tls), CLIENT_IDS: String(ids) }, stdio: ['ignore', 'pipe', 'inherit'] });
  const report = await new Promise<string>((resolve, reject) => {
    let out = '';
    child!.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('\n')) resolve(out.trim()); });
    child!.once('exit', (code) => reject(new Error(`client exited ${code}: ${out}`)));
  });
  gc();
  const growth = process.memoryUsage().heapUsed - before;
  child.kill('SIGKILL');
  release();
  held = undefined;
  assert.ok(growth < heapGrowthBytesMax, `member heap grew ${(growth / 1048576).toFixed(1)} MiB while one LeaseKeepAlive stream queued renewals (client: ${report})`);
  assert.match(report, /^pushed-back /, 'the client is held back by flow control');
  assert.ok(Number(report.split(' ')[1]) < ids / 10, `the client wrote ${report.split(' ')[1]} IDs before it was held back`);
});

test('a renewal of a lease the member does not hold is answered TTL 0 and proposes nothing; a lease it holds is renewed', { timeout: 30_000 }, async () => {
  const session = grpcSession(member.url, member.users.leaser!);
  try {
    const grant = grpcCall(session, 'Lease/LeaseGrant');
    grant.end(frame(encode(messageType('LeaseGrantRequest'), { TTL: 600 })));
    const [granted] = new FrameReader().push(Buffer.concat(await grant.toArray() as Buffer[]));
    const lease = int64(decode(messageType('LeaseGrantResponse'), granted!), 'ID');
    proposed.length = 0;
    const stream = grpcCall(session, 'Lease/LeaseKeepAlive');
    const unknown = [lease + 1, 7, 2 ** 40];
    stream.end(Buffer.concat([...unknown, lease].map((ID) => frame(encode(messageType('LeaseKeepAliveRequest'), { ID })))));
    const answers = new FrameReader().push(Buffer.concat(await stream.toArray() as Buffer[])).map((m) => decode(messageType('LeaseKeepAliveResponse'), m));
    assert.deepEqual(answers.map((a) => [int64(a, 'ID'), int64(a, 'TTL')]), [...unknown.map((id) => [id, 0]), [lease, 600]]);
    assert.deepEqual(proposed, ['leaseKeepAlive'], 'one proposal: the renewal of the lease that exists');
  } finally {
    session.destroy();
  }
});
