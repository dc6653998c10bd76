/**
 * The fault-injecting peer network on its own, with echo servers standing in for members: which
 * connections a cut drops, that a blackhole holds bytes in one direction only and delivers them on
 * heal, and that the 'target' mode (etcd) learns the dialer from its member certificate and dials on
 * with that member's certificate.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect, createServer as netCreateServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as tlsCreateServer, type TLSSocket } from 'node:tls';
import { memberIdentity } from '../../../src/pki/index.ts';
import { type ClusterCerts, freePorts, makeCerts, Network } from '../../support/cluster/index.ts';

const names = ['m1', 'm2', 'm3'];
let dir: string;
let certs: ClusterCerts;
const servers: Server[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-network-test-'));
  certs = await makeCerts(join(dir, 'certs'), names);
});

after(async () => {
  for (const s of servers) s.close();
  await rm(dir, { recursive: true, force: true });
});

/** A member stand-in: echoes what it gets and remembers everything it received, on any connection. */
interface Echo {
  port: number;
  received: string;
  waitFor(text: string): Promise<void>;
  accept(socket: Socket): void;
}

async function listen(server: Server, port: number): Promise<void> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
}

function newEcho(port: number): Echo {
  const waiters: (() => void)[] = [];
  const echo: Echo = {
    port,
    received: '',
    async waitFor(text) {
      while (!echo.received.includes(text)) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    accept(socket) {
      socket.on('data', (chunk: Buffer) => {
        echo.received += chunk.toString();
        socket.write(chunk);
        for (const w of waiters.splice(0)) w();
      });
      socket.on('error', () => undefined);
    },
  };
  return echo;
}

/** Reads from a client socket until `text` has arrived. */
async function readUntil(socket: Socket, text: string): Promise<string> {
  let got = '';
  while (!got.includes(text)) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    got += chunk.toString();
  }
  return got;
}

function dial(url: string): Promise<Socket> {
  const { port } = new URL(url);
  const socket = netConnect({ host: '127.0.0.1', port: Number(port) });
  socket.on('error', () => undefined);
  return once(socket, 'connect').then(() => socket);
}

describe("'pair' mode (Coffer): one plain TCP proxy per directed pair", () => {
  let network: Network;
  let echoes: Echo[];

  before(async () => {
    const ports = await freePorts(3 + 9);
    echoes = ports.slice(0, 3).map(newEcho);
    for (const echo of echoes) await listen(netCreateServer((s) => echo.accept(s)), echo.port);
    network = await Network.start({ mode: 'pair', names, peerPorts: ports.slice(0, 3), proxyPorts: ports.slice(3), certs });
  });

  after(() => network.close());

  test('bytes pass both ways; the URL a member uses for itself is its real port', async () => {
    assert.equal(network.peerUrl(1, 1), `https://127.0.0.1:${echoes[1]?.port}`);
    const s = await dial(network.peerUrl(0, 1));
    s.write('hello-1');
    assert.ok((await readUntil(s, 'hello-1')).includes('hello-1'));
    s.destroy();
  });

  test("cut(i, j, 'drop') resets i's connections to j and refuses new ones; j's connections to i still work", async () => {
    const existing = await dial(network.peerUrl(0, 1));
    const reverse = await dial(network.peerUrl(1, 0));
    const closed = once(existing, 'close');
    network.cut(0, 1, 'drop');
    await closed;
    const fresh = await dial(network.peerUrl(0, 1));
    await once(fresh, 'close');
    reverse.write('reverse-ok');
    await readUntil(reverse, 'reverse-ok');
    network.heal();
    const healed = await dial(network.peerUrl(0, 1));
    healed.write('after-heal');
    await readUntil(healed, 'after-heal');
    for (const s of [reverse, healed]) s.destroy();
  });

  test("cut(i, j, 'blackhole') holds bytes from i to j (and only those) until heal delivers them", async () => {
    const cut = await dial(network.peerUrl(0, 1));
    const uncut = await dial(network.peerUrl(2, 1));
    network.cut(0, 1, 'blackhole');
    cut.write('held-bytes');
    uncut.write('free-bytes');
    await echoes[1]?.waitFor('free-bytes');
    assert.ok(!(echoes[1]?.received.includes('held-bytes')), 'bytes on the blackholed link were not delivered');
    // The reverse direction on a connection j dialed to i: j→i flows, the echo i→j is held.
    const fromJ = await dial(network.peerUrl(1, 0));
    fromJ.write('j-to-i');
    await echoes[0]?.waitFor('j-to-i');
    network.heal();
    await echoes[1]?.waitFor('held-bytes');
    assert.ok((await readUntil(fromJ, 'j-to-i')).includes('j-to-i'), 'the held echo arrives after heal');
    for (const s of [cut, uncut, fromJ]) s.destroy();
  });
});

describe("'target' mode (etcd): one TLS-terminating proxy per member, dialer known by its certificate", () => {
  let network: Network;
  const seenBy: string[][] = [[], [], []];
  let ports: number[];

  before(async () => {
    ports = await freePorts(3 + 3);
    const ca = readFileSync(certs.ca, 'utf8');
    for (let j = 0; j < 3; j++) {
      const name = names[j] as string;
      const server = tlsCreateServer({
        cert: readFileSync(certs.memberCert(name), 'utf8'), key: readFileSync(certs.memberKey(name), 'utf8'), ca, requestCert: true, rejectUnauthorized: true,
      }, (socket: TLSSocket) => {
        seenBy[j]?.push(memberIdentity(socket.getPeerCertificate(true)));
        socket.on('data', (chunk: Buffer) => socket.write(chunk));
        socket.on('error', () => undefined);
      });
      await listen(server, ports[j] as number);
    }
    network = await Network.start({ mode: 'target', names, peerPorts: ports.slice(0, 3), proxyPorts: ports.slice(3), certs });
  });

  after(() => network.close());

  function dialAs(from: number, to: number): TLSSocket {
    const name = names[from] as string;
    const { port } = new URL(network.peerUrl(from, to));
    const socket = tlsConnect({
      host: '127.0.0.1', port: Number(port), ca: readFileSync(certs.ca, 'utf8'),
      cert: readFileSync(certs.memberCert(name), 'utf8'), key: readFileSync(certs.memberKey(name), 'utf8'),
    });
    socket.on('error', () => undefined);
    return socket;
  }

  test('every member uses the same URL for a target, and the target sees the dialer\'s own certificate', async () => {
    assert.equal(network.peerUrl(0, 2), network.peerUrl(1, 2));
    const s = dialAs(0, 2);
    s.write('ping');
    await readUntil(s, 'ping');
    assert.deepEqual(seenBy[2], ['m1']);
    s.destroy();
  });

  test("cut(i, j, 'drop') refuses member i's connections to j but not another member's", async () => {
    network.cut(0, 2, 'drop');
    const refused = dialAs(0, 2);
    await once(refused, 'close');
    const other = dialAs(1, 2);
    other.write('still-up');
    await readUntil(other, 'still-up');
    network.heal();
    other.destroy();
  });
});
