// Slow clients against a real member process (a resource test: what it measures is reported, only what
// the member must do is asserted). 1,000 slow-loris connections — real TLS with a valid client
// certificate, a request's headers begun and dribbled one line a second, never finished — all open at
// once do not stop a normal client from being served, and each is answered 408 and closed by the member
// by its header timeout (node's own default would hold them 60 to 90 s). TCP connections that never
// begin the TLS handshake are closed by the handshake timeout (node's default: 120 s). The figures
// (connections, member RSS, how long each was held) go to the test's diagnostics and to
// docs/security.md, "Slow clients".
//
// The attacker resumes one TLS session for every connection, as a cheap attacker would: a full
// handshake costs both ends about 8 ms of CPU on a 2-core test machine, so 1,000 of them would take
// nearly the whole header timeout to open; resumed, they open in about 3 s.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { connect, type ConnectionOptions, createSecureContext } from 'node:tls';
import { after, before, test } from 'node:test';
import { apiHeadersTimeoutMs, apiTimeoutCheckIntervalMs, tlsHandshakeTimeoutMs } from '../../../src/config/index.ts';
import { Cluster, waitBootstrapped } from '../../support/cluster/index.ts';

const slowLorisConnections = 1_000;
/** Handshakes in flight at once while the slow-loris connections are opened. */
const openConcurrency = 50;
const dribbleIntervalMs = 1_000;
const silentTcpConnections = 100;

/**
 * How late the member may close a slow connection past its timeout and the check interval and still
 * count as closing it by that timeout (a busy 2-core machine delays timers); far below node's defaults.
 */
const closeGraceMs = 10_000;

let cluster: Cluster;
let tls: ConnectionOptions;
let port: number;

before(async () => {
  cluster = await Cluster.start({ size: 1, backend: 'coffer', faults: false });
  await waitBootstrapped(cluster);
  const certs = cluster.clientTls();
  // One context for every connection: building one per connection (parsing the PEMs) would make this
  // process, not the member, the bottleneck of opening them.
  const secureContext = createSecureContext({ cert: certs.cert, key: certs.key, ca: certs.ca, minVersion: 'TLSv1.3' });
  port = cluster.clientPorts[0] as number;
  tls = { secureContext, session: await sessionTicket(secureContext) };
});

/** A TLS session ticket from one full handshake with the member, for the attacker to resume. */
function sessionTicket(secureContext: ConnectionOptions['secureContext']): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ secureContext, host: '127.0.0.1', port });
    socket.once('session', (session: Buffer) => {
      resolve(session);
      socket.destroy();
    });
    socket.once('error', reject);
    socket.resume();
  });
}

after(async () => {
  await cluster.stop();
});

/** CPU seconds the member has used (user + system), from /proc. */
async function memberCpuSeconds(): Promise<number> {
  const fields = (await readFile(`/proc/${cluster.members[0]!.pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** The member's resident set size in MiB, from /proc. */
async function memberRssMiB(): Promise<number> {
  const status = await readFile(`/proc/${cluster.members[0]!.pid}/status`, 'utf8');
  const kiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  assert.ok(Number.isFinite(kiB), 'VmRSS is readable');
  return kiB / 1024;
}

interface SlowLoris {
  /** When the first header byte was written. */
  startedAt: number;
  resumed: boolean;
  open(): boolean;
  /** Resolves when the member closed the connection: how long after the first byte, and whether it answered 408 first. */
  closed: Promise<{ heldMs: number; answered408: boolean }>;
  write(line: string): void;
}

/** One connection that completes TLS and begins a request it never finishes. */
function slowLoris(): Promise<SlowLoris> {
  return new Promise((resolve, reject) => {
    const socket = connect({ ...tls, host: '127.0.0.1', port });
    let received = '';
    socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1'); });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      socket.write('GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const startedAt = Date.now();
      const closed = new Promise<{ heldMs: number; answered408: boolean }>((settle) => {
        socket.once('close', () => settle({ heldMs: Date.now() - startedAt, answered408: received.startsWith('HTTP/1.1 408 ') }));
      });
      socket.off('error', reject);
      socket.on('error', () => undefined); // the member ends it; its reset is expected
      resolve({ startedAt, resumed: socket.isSessionReused(), open: () => !socket.destroyed, closed, write: (line) => { if (!socket.destroyed) socket.write(line); } });
    });
  });
}

/** A normal client: a fresh connection (its own handshake), one request, the answer's status. */
function normalRequest(): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect({ ...tls, host: '127.0.0.1', port }, () => {
      socket.write('GET /api/v1/namespaces/default HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    });
    let received = '';
    socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1'); });
    socket.once('error', reject);
    socket.once('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(received)?.[1] ?? 0), ms: Date.now() - started }));
  });
}

const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `min ${sorted[0]} ms, median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms`;
};

test(`${slowLorisConnections} slow-loris connections do not stop a normal client, and the member closes each once the header timeout has passed`, { timeout: 120_000 }, async (t) => {
  const rssBefore = await memberRssMiB();
  const cpuBefore = [await memberCpuSeconds(), process.cpuUsage()] as const;
  const attackers: SlowLoris[] = [];
  // openConcurrency handshakes in flight at any time until all are open.
  let started = 0;
  await Promise.all(Array.from({ length: openConcurrency }, async () => {
    while (started < slowLorisConnections) {
      started++;
      attackers.push(await slowLoris());
    }
  }));
  const openedAt = Date.now();
  const memberCpuMs = (await memberCpuSeconds() - cpuBefore[0]) * 1000;
  const ownCpu = process.cpuUsage(cpuBefore[1]);
  const ownCpuMs = (ownCpu.user + ownCpu.system) / 1000;
  const dribble = setInterval(() => { for (const a of attackers) a.write('X-Slow: 1\r\n'); }, dribbleIntervalMs);
  try {
    const rssOpen = await memberRssMiB();
    const normal = await normalRequest();
    const openDuringNormal = attackers.filter((a) => a.open()).length;
    assert.equal(normal.status, 200, 'a normal client is served');
    assert.equal(openDuringNormal, slowLorisConnections, 'while every slow-loris connection was open');
    const results = await Promise.all(attackers.map((a) => a.closed));
    const rssAfter = await memberRssMiB();

    const answered = results.filter((r) => r.answered408).length;
    assert.equal(answered, slowLorisConnections, 'the member answered every slow-loris connection 408 Request Timeout and closed it');
    const held = results.map((r) => r.heldMs);
    const bound = apiHeadersTimeoutMs + apiTimeoutCheckIntervalMs + closeGraceMs;
    assert.deepEqual(held.filter((ms) => ms > bound), [], `each closed by the header timeout (within ${bound} ms of its first byte)`);
    t.diagnostic(`${slowLorisConnections} slow-loris connections (${attackers.filter((a) => a.resumed).length} resumed TLS sessions) open in ${openedAt - Math.min(...attackers.map((a) => a.startedAt))} ms after the first; `
      + `(CPU per connection: member ${(memberCpuMs / slowLorisConnections).toFixed(1)} ms, attacker ${(ownCpuMs / slowLorisConnections).toFixed(1)} ms); `
      + `normal request during them: ${normal.status} in ${normal.ms} ms`);
    t.diagnostic(`held open until the member closed them (header timeout ${apiHeadersTimeoutMs} ms): ${summary(held)}`);
    t.diagnostic(`member RSS: ${rssBefore.toFixed(0)} MiB before, ${rssOpen.toFixed(0)} MiB with all open `
      + `(+${((rssOpen - rssBefore) * 1024 / slowLorisConnections).toFixed(0)} KiB per connection), ${rssAfter.toFixed(0)} MiB after they closed`);
  } finally {
    clearInterval(dribble);
  }
});

test(`TCP connections that never begin TLS are closed by the member's handshake timeout, on the client and the peer port`, { timeout: 60_000 }, async (t) => {
  const started = Date.now();
  const ports = [port, cluster.peerPorts[0] as number];
  const held = await Promise.all(Array.from({ length: silentTcpConnections }, (_, i) => new Promise<number>((resolve) => {
    const socket = netConnect(ports[i % ports.length] as number, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(Date.now() - started));
  })));
  // This test never closes them: each was closed by the member, by its handshake timeout.
  const bound = tlsHandshakeTimeoutMs + closeGraceMs;
  assert.deepEqual(held.filter((ms) => ms > bound), [], `each closed within ${bound} ms`);
  const normal = await normalRequest();
  assert.equal(normal.status, 200);
  t.diagnostic(`${silentTcpConnections} silent TCP connections (half to each port) closed (handshake timeout ${tlsHandshakeTimeoutMs} ms): ${summary(held)}`);
});
