// Connections as the attacker opens them, against a real member whose open-file limit is low enough to
// reach: anyone who can reach a port can open connections, without a certificate until the handshake
// ends, and each holds one of the member's file descriptors — which its WAL, audit log and LevelDB
// need as well. A flood of connections that never send a TLS hello (from one address, from many, to
// the client port or the peer port) must not keep a client out or the member from its files, and a
// client with a valid certificate cannot make the client port hold more than the member can spare.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import {
  clientConnectionsMin, handshakesPendingMax, handshakesPendingPerAddressMax, peerConnectionsMax, refusalLogLinesMax, refusalLogWindowMs, tlsHandshakeTimeoutMs,
} from '../../../src/config/index.ts';
import { clientConnectionsCap, clientConnectionsPerCertificate, memberFilesReserve } from '../../../src/server/open-files.ts';
import { Cluster, waitBootstrapped } from '../../support/cluster/index.ts';
import { makeCerts } from '../../support/cluster/certs.ts';
import { cofferBackend, type Backend } from '../../support/cluster/backends.ts';
import { waitUntil } from '../../support/wait.ts';

/**
 * The member's open-file limit: what it keeps for its files and peers, and a client port that holds more
 * than handshakesPendingMax connections (so that each limit below is the one that binds).
 */
const memberOpenFiles = memberFilesReserve + handshakesPendingMax + handshakesPendingPerAddressMax;
/** The client port's connections under that limit. */
const clientCap = clientConnectionsCap(memberOpenFiles);
/** Connections in each flood: more than the member has file descriptors. */
const floodSize = memberOpenFiles + 200;
/** Addresses a flood from many addresses comes from (127.0.0.2 …), each below handshakesPendingPerAddressMax. */
const floodAddresses = Math.ceil(floodSize / (handshakesPendingPerAddressMax / 2));
/** How long a client's put and get may take while a flood is held. */
const servedWithinMs = 10_000;
/** Long enough for a flood's connections to reach the member, those the kernel's queue held back included (its SYN sent again after 1 s). */
const floodArrivesWithinMs = 2_000;
/** Descriptors the member may open beside a flood's for its own work meanwhile (a client's connection, the metrics', files). */
const ownDescriptorsSlack = 32;
/** Connections made with a certificate from another CA. */
const foreignConnections = 200;
/** Connections the test harness's own clients may keep open to the member. */
const harnessConnectionsMax = 4;
/** Valid-certificate connections opened at once, so that their handshakes stay below handshakesPendingPerAddressMax. */
const certifiedBatch = handshakesPendingPerAddressMax / 2;

/** Coffer members started with the open-file limit (soft and hard) at `openFiles`. */
function withOpenFiles(backend: Backend, openFiles: number): Backend {
  return {
    ...backend,
    command(spec) {
      const inner = backend.command(spec);
      return { ...inner, command: '/bin/sh', args: ['-c', `ulimit -n ${openFiles} && exec "$@"`, 'sh', inner.command, ...inner.args] };
    },
  };
}

/** Opens `count` TCP connections to `port` that never send a byte, from 127.0.0.2 on (`addresses` of them in turn). */
function flood(port: number, count: number, addresses: number): { end(): void } {
  const sockets = Array.from({ length: count }, (_, i) => {
    const socket = connectTcp({ host: '127.0.0.1', port, localAddress: `127.0.0.${2 + (i % addresses)}` });
    socket.on('error', () => undefined); // the member resets what it closes
    return socket;
  });
  return { end: () => sockets.forEach((socket) => socket.destroy()) };
}

let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ size: 1, backend: withOpenFiles(cofferBackend, memberOpenFiles), faults: false });
  await waitBootstrapped(cluster);
});

after(async () => {
  await cluster.stop();
});

/** The member's open file descriptors, connections included, as its process shows them. */
function memberDescriptors(): number {
  return readdirSync(`/proc/${cluster.members[0]!.pid!}/fd`).length;
}

/** A value of the member's metrics (0 when the series is not there), read over a new connection with the member's own certificate. */
async function metric(series: string): Promise<number> {
  const body = await new Promise<string>((resolve, reject) => {
    const request = httpsRequest(`${cluster.clientUrl(0)}/metrics`, {
      cert: readFileSync(cluster.certs.memberCert('m1')), key: readFileSync(cluster.certs.memberKey('m1')), ca: readFileSync(cluster.certs.ca), agent: false,
    }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(Buffer.concat(chunks).toString()) : reject(new Error(`/metrics: ${response.statusCode}`))));
    });
    request.on('error', reject);
    request.end();
  });
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** A put and a get by a new client over a new connection, as the admin. */
async function servesANewClient(key: string): Promise<void> {
  const client = cluster.client(0, { requestTimeoutMs: servedWithinMs });
  try {
    await client.put(key, 'still serving');
    assert.equal(Buffer.from((await client.get(key))!.value).toString(), 'still serving');
  } finally {
    client.close();
  }
}

/**
 * Floods `port` and checks, while the flood is held, that the member holds at most `held` of its
 * connections before any could have reached the handshake timeout, and serves a new client.
 */
async function survivesFlood(port: number, addresses: number, held: number, key: string): Promise<void> {
  const before = memberDescriptors();
  const startedAt = Date.now();
  const connections = flood(port, floodSize, addresses);
  try {
    const most = before + held + ownDescriptorsSlack;
    await waitUntil(() => memberDescriptors() <= most && Date.now() - startedAt > floodArrivesWithinMs, tlsHandshakeTimeoutMs - 1_000,
      `the member holding at most ${most} descriptors (${before} before the flood) once it arrived`, { detail: () => `${memberDescriptors()} held` });
    await servesANewClient(key);
  } finally {
    connections.end();
  }
}

describe('a member under a flood of connections', () => {
  test('connections from one address that never begin their handshake: the member holds handshakesPendingPerAddressMax of them and serves a new client', async () => {
    await survivesFlood(cluster.clientPorts[0]!, 1, handshakesPendingPerAddressMax, 'flood/one-address');
    assert.ok(await metric('coffer_connections_refused_total{listener="client",reason="address-handshakes"}') > 0, "the member counts what it closed, by the limit that closed it");
  });

  test('connections from many addresses that never begin their handshake: the member holds handshakesPendingMax of them and serves a new client', async () => {
    await survivesFlood(cluster.clientPorts[0]!, floodAddresses, handshakesPendingMax, 'flood/many-addresses');
    assert.ok(await metric('coffer_connections_refused_total{listener="client",reason="handshakes"}') > 0, "the member counts what it closed, by the limit that closed it");
  });

  test('the peer port: a flood is held to peerConnectionsMax, and the member goes on serving', async () => {
    await survivesFlood(cluster.peerPorts[0]!, 1, peerConnectionsMax, 'flood/peer-port');
    // A handshake the guard (or its client) cut short says nothing about a certificate: no line for it.
    const log = await readFile(cluster.members[0]!.logFile, 'utf8');
    assert.doesNotMatch(log, /peer connection refused/);
    assert.ok(await metric('coffer_connections_refused_total{listener="peer",reason="connections"}') > 0, "the member counts what it closed, by the limit that closed it");
  });

  test('connections with one valid certificate: the client port holds its share for it and closes the rest, and another certificate still gets in', async () => {
    // Once the floods' connections are gone, what is open is the metrics request's own (the member's
    // certificate) and the few the harness keeps (its clients' keep-alive connections, the admin's).
    const open = () => metric('coffer_connections_open{listener="client"}');
    let adminOpen = 0;
    await waitUntil(async () => (adminOpen = (await open()) - 1) <= harnessConnectionsMax, servedWithinMs, 'the floods\' connections closed',
      { detail: () => `${adminOpen} open beside the metrics request` });
    const share = clientConnectionsPerCertificate(clientCap) - adminOpen;
    const refusedBefore = await metric('coffer_connections_refused_total{listener="client",reason="certificate-connections"}');
    const tls = cluster.clientTls() as { cert: string; key: string; ca: string };
    const opened: { socket: Socket; secure: boolean }[] = [];
    try {
      while (opened.length < share + 20) {
        opened.push(...await Promise.all(Array.from({ length: Math.min(certifiedBatch, share + 20 - opened.length) }, () => new Promise<{ socket: Socket; secure: boolean }>((resolve) => {
          const socket = connectTls({ ...tls, host: '127.0.0.1', port: cluster.clientPorts[0]!, ALPNProtocols: ['http/1.1'] });
          socket.on('error', () => undefined);
          socket.once('secureConnect', () => resolve({ socket, secure: true }));
          socket.once('close', () => resolve({ socket, secure: false }));
        }))));
      }
      await waitUntil(() => opened.filter((o) => !o.socket.destroyed).length <= share, servedWithinMs, 'the member closing what it does not keep');
      assert.equal(opened.filter((o) => o.secure && !o.socket.destroyed).length, share);
      // While the admin's certificate holds its whole share, the member's is served (a new connection).
      assert.equal(await metric('coffer_connections_refused_total{listener="client",reason="certificate-connections"}') - refusedBefore, 20);
    } finally {
      for (const { socket } of opened) socket.destroy();
    }
    await servesANewClient('flood/certified');
  });
});

describe('a member refusing certificates from another CA', () => {
  test('each is refused and counted, and the log holds refusalLogLinesMax lines of them, then one line counting the rest', async () => {
    const foreign = await mkdtemp(join(tmpdir(), 'coffer-foreign-ca-'));
    try {
      const certs = await makeCerts(foreign, ['m1']);
      const tls = { cert: await readFile(certs.clientCert, 'utf8'), key: await readFile(certs.clientKey, 'utf8'), ca: (cluster.clientTls() as { ca: string }).ca };
      const refusedBefore = await metric('coffer_connections_refused_total{listener="client",reason="certificate"}');
      await Promise.all(Array.from({ length: foreignConnections }, () => new Promise<void>((resolve) => {
        const socket = connectTls({ ...tls, host: '127.0.0.1', port: cluster.clientPorts[0]!, ALPNProtocols: ['http/1.1'] });
        socket.on('error', () => undefined);
        socket.once('close', () => resolve());
      })));
      await waitUntil(async () => await metric('coffer_connections_refused_total{listener="client",reason="certificate"}') - refusedBefore === foreignConnections,
        servedWithinMs, 'every foreign certificate counted');
      const logged = async () => (await readFile(cluster.members[0]!.logFile, 'utf8')).split('\n').filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; leftOut?: number }).filter((l) => l.msg.startsWith('client certificate refused'));
      const summary = await waitUntil(async () => (await logged()).find((l) => l.leftOut !== undefined), refusalLogWindowMs + servedWithinMs, 'the line counting the rest');
      const lines = (await logged()).filter((l) => l.leftOut === undefined);
      assert.equal(lines.length, refusalLogLinesMax);
      assert.equal(summary.leftOut, foreignConnections - refusalLogLinesMax);
    } finally {
      await rm(foreign, { recursive: true, force: true });
    }
  });
});

describe('a member whose open-file limit leaves too little for its connections', () => {
  let lowCluster: Cluster;

  before(async () => {
    lowCluster = await Cluster.start({ size: 1, backend: withOpenFiles(cofferBackend, memberFilesReserve), faults: false });
    await waitBootstrapped(lowCluster);
  });

  after(async () => {
    await lowCluster.stop();
  });

  test('says so at start, names the limit it would need, and holds clientConnectionsMin connections', async () => {
    const lines = (await readFile(lowCluster.members[0]!.logFile, 'utf8')).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const warning = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('the open-file limit leaves too few file descriptors'));
    assert.ok(warning !== undefined, 'no warning about the open-file limit');
    assert.equal(warning.openFiles, memberFilesReserve);
    assert.equal(warning.wanted, memberFilesReserve + clientConnectionsMin);
    assert.equal(lines.find((l) => l.msg === 'member started')?.clientConnectionsMax, clientConnectionsMin);
  });
});
