// The connection guard on a real TLS server over loopback: which connection each limit closes (the oldest
// still in its handshake, never one whose handshake finished), that a finished handshake frees its place
// among the pending ones, and how sources are grouped (an IPv4 address, an IPv4-mapped one, an IPv6 /64).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect as connectTls, createServer, type Server } from 'node:tls';
import { type ConnectionLimits, type ConnectionRefusal, guardConnections, sourceOf } from '../../../src/server/connection-guard.ts';
import { makeCerts } from '../../support/cluster/certs.ts';
import { waitUntil } from '../../support/wait.ts';
import { tempDir } from '../pki/tls-harness.ts';

/** How long the server may take to close what a limit closes. */
const closedWithinMs = 5_000;

let dir: Awaited<ReturnType<typeof tempDir>>;
let tls: { cert: string; key: string; ca: string };

before(async () => {
  dir = await tempDir('guard');
  const certs = await makeCerts(dir.dir, ['m1']);
  const read = (path: string) => readFile(path, 'utf8');
  tls = { cert: await read(certs.memberCert('m1')), key: await read(certs.memberKey('m1')), ca: await read(certs.ca) };
});

after(async () => {
  await dir.remove();
});

interface Guarded {
  port: number;
  refused: ConnectionRefusal[];
  /** Connections whose handshake the server has finished (with TLS 1.3 the client finishes first). */
  established(): number;
  open(): number;
  close(): Promise<void>;
}

/** A TLS server guarded by `limits`; with `certificates`, one that asks for and verifies client certificates. */
async function guardedServer(limits: ConnectionLimits, certificates = false): Promise<Guarded> {
  const server: Server = createServer({ ...tls, handshakeTimeout: 60_000, ...(certificates ? { requestCert: true, rejectUnauthorized: true } : {}) });
  server.on('tlsClientError', (_error, socket) => socket.destroy());
  let established = 0;
  server.on('secureConnection', (socket) => {
    established++;
    socket.on('error', () => undefined);
  });
  const refused: ConnectionRefusal[] = [];
  const guarded = guardConnections(server, limits, (reason) => refused.push(reason));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port, refused, open: guarded.open, established: () => established,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A connection from `address` that never sends a byte; resolves once the server has taken it. */
async function bare(server: Guarded, address: string): Promise<Socket & { closedByServer: Promise<void> }> {
  const opened = server.open();
  const socket = connectTcp({ host: '127.0.0.1', port: server.port, localAddress: address });
  socket.on('error', () => undefined);
  const closedByServer = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise((resolve) => socket.once('connect', resolve));
  await waitUntil(() => server.open() > opened || server.refused.length > 0, closedWithinMs, 'the server taking the connection', { pollMs: 5 });
  return Object.assign(socket, { closedByServer });
}

/** A TLS connection from 127.0.0.1 whose handshake finished, on both ends. */
async function handshaken(server: Guarded): Promise<Socket> {
  const established = server.established();
  const socket = connectTls({ ...tls, host: '127.0.0.1', port: server.port, servername: 'localhost' });
  socket.on('error', () => undefined);
  await new Promise((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('close', () => reject(new Error('closed before its handshake finished')));
  });
  await waitUntil(() => server.established() > established, closedWithinMs, 'the server finishing the handshake', { pollMs: 5 });
  return socket;
}

describe('the connection guard', () => {
  test('past handshakesPerAddressMax from one address the oldest of that address is closed; other addresses are left alone', async () => {
    const server = await guardedServer({ connectionsMax: 100, connectionsPerCertificateMax: 100, handshakesMax: 100, handshakesPerAddressMax: 2 });
    const other = await bare(server, '127.0.0.3');
    const first = await bare(server, '127.0.0.2');
    const second = await bare(server, '127.0.0.2');
    const third = await bare(server, '127.0.0.2');
    await first.closedByServer;
    assert.deepEqual(server.refused, ['address-handshakes']);
    assert.equal(second.destroyed || third.destroyed || other.destroyed, false);
    assert.equal(server.open(), 3);
    for (const socket of [other, second, third]) socket.destroy();
    await server.close();
  });

  test('past handshakesMax in all the oldest pending handshake of the source holding the most is closed, not the oldest of all', async () => {
    const server = await guardedServer({ connectionsMax: 100, connectionsPerCertificateMax: 100, handshakesMax: 3, handshakesPerAddressMax: 100 });
    const lone = await bare(server, '127.0.0.2');
    const first = await bare(server, '127.0.0.3');
    const second = await bare(server, '127.0.0.3');
    const other = await bare(server, '127.0.0.4');
    await first.closedByServer;
    assert.deepEqual(server.refused, ['handshakes']);
    assert.equal(lone.destroyed || second.destroyed || other.destroyed, false);
    for (const socket of [lone, second, other]) socket.destroy();
    await server.close();
  });

  test('past connectionsPerCertificateMax the new connection of that certificate is closed once its handshake proves it; a closed one frees its place', async () => {
    const server = await guardedServer({ connectionsMax: 100, connectionsPerCertificateMax: 2, handshakesMax: 100, handshakesPerAddressMax: 100 }, true);
    const held = [await handshaken(server), await handshaken(server)];
    const third = connectTls({ ...tls, host: '127.0.0.1', port: server.port, servername: 'localhost' });
    third.on('error', () => undefined);
    await new Promise((resolve) => third.once('close', resolve));
    assert.deepEqual(server.refused, ['certificate-connections']);
    assert.equal(held.some((socket) => socket.destroyed), false);
    held[0]!.destroy();
    await waitUntil(() => server.open() === 1, closedWithinMs, 'the closed connection no longer counted');
    const again = await handshaken(server);
    assert.deepEqual(server.refused, ['certificate-connections']);
    for (const socket of [held[1]!, again]) socket.destroy();
    await server.close();
  });

  test('past handshakesMax in all the oldest pending handshake is closed, whatever its address', async () => {
    const server = await guardedServer({ connectionsMax: 100, connectionsPerCertificateMax: 100, handshakesMax: 2, handshakesPerAddressMax: 100 });
    const first = await bare(server, '127.0.0.2');
    const second = await bare(server, '127.0.0.3');
    const third = await bare(server, '127.0.0.4');
    await first.closedByServer;
    assert.deepEqual(server.refused, ['handshakes']);
    assert.equal(second.destroyed || third.destroyed, false);
    for (const socket of [second, third]) socket.destroy();
    await server.close();
  });

  test('a finished handshake no longer counts as pending: connections that finished theirs are never closed for a newer one', async () => {
    const server = await guardedServer({ connectionsMax: 100, connectionsPerCertificateMax: 100, handshakesMax: 100, handshakesPerAddressMax: 1 });
    const clients = [await handshaken(server), await handshaken(server), await handshaken(server)];
    assert.deepEqual(server.refused, []);
    assert.equal(server.open(), 3);
    for (const socket of clients) socket.destroy();
    await waitUntil(() => server.open() === 0, closedWithinMs, 'the closed connections no longer counted');
    await server.close();
  });

  test('past connectionsMax the oldest pending handshake is closed, or the new connection when every other finished its handshake', async () => {
    const server = await guardedServer({ connectionsMax: 2, connectionsPerCertificateMax: 100, handshakesMax: 100, handshakesPerAddressMax: 100 });
    const established = await handshaken(server);
    const pending = await bare(server, '127.0.0.2');
    const newer = await bare(server, '127.0.0.3');
    await pending.closedByServer;
    assert.deepEqual(server.refused, ['connections']);
    assert.equal(established.destroyed || newer.destroyed, false);
    newer.destroy();
    await waitUntil(() => server.open() === 1, closedWithinMs, 'the pending connection no longer counted');
    // Both established stay; the newcomer is closed as it arrives, the only connection in its handshake.
    const secondEstablished = await handshaken(server);
    const turnedAway = await bare(server, '127.0.0.4');
    await turnedAway.closedByServer;
    assert.equal(established.destroyed || secondEstablished.destroyed, false);
    assert.deepEqual(server.refused, ['connections', 'connections']);
    for (const socket of [established, secondEstablished]) socket.destroy();
    await server.close();
  });
});

describe('the source a connection counts against', () => {
  test('an IPv4 address is itself, IPv4-mapped or not', () => {
    assert.equal(sourceOf('192.0.2.7'), '192.0.2.7');
    assert.equal(sourceOf('::ffff:192.0.2.7'), '192.0.2.7');
  });

  test('an IPv6 address counts against its /64, however it is written', () => {
    assert.equal(sourceOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('2001:0db8:0001:0002:ffff:0:0:9'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(sourceOf('::1'), '0:0:0:0::/64');
    assert.equal(sourceOf('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.notEqual(sourceOf('2001:db8:1:2::1'), sourceOf('2001:db8:1:3::1'));
  });
});
