// The client port's keep-alive connections, on a real member over real TLS: an answer names the idle
// timeout the member applies (`Keep-Alive: timeout=N`, which node's agent and other clients use to drop
// an idle connection before the server does), and the member holds an idle connection that long, not
// node's 5-second default — a client idle for a few seconds then sent a write on a connection the
// member was closing, and lost it (CONNECTION_LOST, the write's outcome unknown).
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { after, before, test } from 'node:test';
import { apiKeepAliveTimeoutMs } from '../../../src/config/index.ts';
import { Cluster, waitBootstrapped } from '../../support/cluster/index.ts';

/** How late past its keep-alive timeout the member may close an idle connection on a busy test machine. */
const closeGraceMs = 5_000;

let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ size: 1, backend: 'coffer', faults: false });
  await waitBootstrapped(cluster);
});

after(async () => {
  await cluster.stop();
});

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
