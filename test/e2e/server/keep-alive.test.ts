// What the client port keeps open while it is quiet, on a real member over real TLS and HTTP/2:
// - An HTTP/1.1 answer names the idle timeout the member applies (`Keep-Alive: timeout=N`, which node's
//   agent and other clients use to drop an idle connection before the server does), and the member
//   holds an idle connection that long, not node's 5-second default — a client idle for a few seconds
//   then sent a write on a connection the member was closing, and lost it (CONNECTION_LOST, the write's
//   outcome unknown).
// - etcd's LeaseKeepAlive stream, like a Watch, is long-lived and quiet between renewals (clientv3
//   renews every TTL/3: over a minute for a lease of more than three), so it is not cancelled for
//   idleness as other streams are after apiRequestTimeoutMs; etcd cancels neither.
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiKeepAliveTimeoutMs, apiRequestTimeoutMs } from '../../../src/config/index.ts';
import { int64 } from '../../../src/etcdpb/index.ts';
import { Cluster, waitBootstrapped } from '../../support/cluster/index.ts';
import { grpcCall, grpcExchange, grpcSession } from '../../support/grpc-stream.ts';

/** How late past its keep-alive timeout the member may close an idle connection on a busy test machine. */
const closeGraceMs = 5_000;
/** A lease long enough to outlive the quiet stream below. */
const leaseTtlSeconds = 600;
/** How long past apiRequestTimeoutMs the LeaseKeepAlive stream is left quiet (timers on a busy machine run late). */
const quietPastTimeoutMs = 5_000;

let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ size: 1, backend: 'coffer', faults: false });
  await waitBootstrapped(cluster);
});

after(async () => {
  await cluster.stop();
});

describe('quiet connections and streams', { concurrency: true }, () => {
  test('an idle keep-alive connection is held for the advertised apiKeepAliveTimeoutMs and then closed by the member', async () => {
    const tls = cluster.clientTls();
    const socket = connect({ ...tls, host: '127.0.0.1', port: cluster.clientPorts[0], ALPNProtocols: ['http/1.1'] });
    let received = '';
    let answeredAt = 0;
    const closedAt = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    socket.on('error', () => undefined); // the member ends the connection; a reset on the way is not the question
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => socket.write('GET /api/v1/namespaces/default HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
      socket.once('error', reject);
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        const headEnd = received.indexOf('\r\n\r\n');
        const length = /^content-length: (\d+)$/im.exec(received)?.[1];
        if (answeredAt === 0 && headEnd >= 0 && length !== undefined && received.length >= headEnd + 4 + Number(length)) {
          answeredAt = Date.now();
          resolve();
        }
      });
    });
    assert.match(received, /^HTTP\/1\.1 200 /);
    assert.match(received, /^connection: keep-alive$/im);
    assert.equal(/^keep-alive: (.*)$/im.exec(received)?.[1]?.trim(), `timeout=${apiKeepAliveTimeoutMs / 1000}`);
    const heldMs = (await closedAt) - answeredAt;
    assert.ok(heldMs >= apiKeepAliveTimeoutMs, `closed after ${heldMs} ms idle, before the advertised ${apiKeepAliveTimeoutMs} ms`);
    assert.ok(heldMs <= apiKeepAliveTimeoutMs + closeGraceMs, `held ${heldMs} ms idle, past the timeout and its grace`);
  });

  test('a LeaseKeepAlive stream quiet for longer than apiRequestTimeoutMs is not cancelled: the next renewal is answered on it', async () => {
    const session = grpcSession(cluster.clientUrl(0), cluster.clientTls() as { cert: string; key: string; ca: string });
    try {
      const granted = await grpcExchange(grpcCall(session, 'Lease/LeaseGrant'), 'LeaseGrantRequest', { TTL: leaseTtlSeconds }, 'LeaseGrantResponse', true);
      const id = int64(granted, 'ID');
      const keepAlive = grpcCall(session, 'Lease/LeaseKeepAlive');
      let cancelled = false;
      keepAlive.on('close', () => { cancelled = true; });
      const first = await grpcExchange(keepAlive, 'LeaseKeepAliveRequest', { ID: id }, 'LeaseKeepAliveResponse');
      assert.equal(int64(first, 'TTL'), leaseTtlSeconds);
      await sleep(apiRequestTimeoutMs + quietPastTimeoutMs);
      assert.equal(cancelled, false, `the stream was closed while quiet (code ${keepAlive.rstCode})`);
      const second = await grpcExchange(keepAlive, 'LeaseKeepAliveRequest', { ID: id }, 'LeaseKeepAliveResponse');
      assert.equal(int64(second, 'ID'), id);
      assert.equal(int64(second, 'TTL'), leaseTtlSeconds);
      keepAlive.close();
    } finally {
      session.close();
    }
  });
});
