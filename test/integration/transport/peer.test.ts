// Peer links over real mutual TLS on loopback, with certificates from the built-in CA.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { connect } from 'node:tls';
import { type Clock, realClock, seededRandom } from '../../../src/base/index.ts';
import { peerConnectionStableMs, peerDialBackoffMaxMs, peerDialBackoffMinMs } from '../../../src/config/index.ts';
import { acceptPeer, bootstrapCa, caLayout, clientTlsOptions, loadTlsMaterial, serverTlsOptions } from '../../../src/pki/index.ts';
import type { TlsMaterial } from '../../../src/pki/index.ts';
import type { Message } from '../../../src/raft/index.ts';
import { encodeFrame, encodePeerFrame, PeerLink, PeerListener } from '../../../src/transport/index.ts';

let dir: string;
const material = new Map<string, TlsMaterial>();
const ids: Record<string, number> = { m1: 1, m2: 2, m3: 3 };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coffer-transport-'));
  await bootstrapCa({ dir, members: ['m1', 'm2', 'm3'], hosts: ['127.0.0.1'], admin: 'admin', p12Password: 'test' });
  const layout = caLayout(dir);
  for (const name of ['m1', 'm2', 'm3']) {
    material.set(name, await loadTlsMaterial({ cert: layout.memberCert(name), key: layout.memberKey(name), ca: layout.caCert, crl: layout.crl }));
  }
  material.set('admin', await loadTlsMaterial({ cert: layout.clientCert('admin'), key: layout.clientKey('admin'), ca: layout.caCert, crl: layout.crl }));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function heartbeat(from: number, to: number, term: number): Message {
  return { type: 'heartbeat', from, to, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
}

function mustGet<T>(value: T | undefined, what: string): T {
  assert.ok(value !== undefined, `missing ${what}`);
  return value;
}

interface Harness {
  listener: PeerListener;
  port: number;
  received: Message[];
  refused: string[];
  /** The member id of each connection that said hello. */
  hellos: number[];
  next(count: number): Promise<Message[]>;
}

async function startListener(name: string, port = 0, removed: Set<number> = new Set(), clusterId = 'cluster-a'): Promise<Harness> {
  const received: Message[] = [];
  const refused: string[] = [];
  const hellos: number[] = [];
  const waiters: Array<() => void> = [];
  const listener = new PeerListener({
    clusterId,
    tlsOptions: serverTlsOptions(mustGet(material.get(name), name)),
    acceptPeer,
    knowsMember: (id, name) => ids[name] === id,
    isRemoved: (id) => removed.has(id),
    onMessage: (m) => { received.push(m); waiters.splice(0).forEach((w) => w()); },
    onRefused: (reason) => { refused.push(reason); waiters.splice(0).forEach((w) => w()); },
    onPeer: (id) => hellos.push(id),
    clock: realClock,
  });
  const boundPort = await listener.listen('127.0.0.1', port);
  const next = async (count: number) => {
    while (received.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
    return received.slice(0, count);
  };
  return { listener, port: boundPort, received, refused, hellos, next };
}

async function refusal(harness: Harness): Promise<string> {
  while (harness.refused.length === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  return mustGet(harness.refused[0], 'refusal');
}

interface LinkOptions { claim?: string; cert?: string; drops?: Message[]; onStateChange?: (connected: boolean) => void; onRemoved?: () => void; clock?: Clock }

function link(from: string, to: string, port: number, options: LinkOptions = {}): PeerLink {
  const own = mustGet(material.get(options.cert ?? from), from);
  return new PeerLink({
    peer: { id: mustGet(ids[to], to), name: to, url: `https://127.0.0.1:${port}` },
    hello: { kind: 'hello', clusterId: 'cluster-a', member: options.claim ?? from, memberId: mustGet(ids[options.claim ?? from], from) },
    tlsOptions: (expected) => clientTlsOptions(own, { expectedMember: expected }),
    clock: options.clock ?? realClock,
    random: seededRandom(1),
    onDrop: (m) => options.drops?.push(m),
    ...(options.onStateChange ? { onStateChange: options.onStateChange } : {}),
    ...(options.onRemoved ? { onRemoved: options.onRemoved } : {}),
  });
}

test('messages sent before and after the connection arrive in order from the proven member', async () => {
  const server = await startListener('m1');
  const m2 = link('m2', 'm1', server.port);
  for (let term = 1; term <= 3; term++) assert.equal(m2.send(heartbeat(2, 1, term)), true);
  const first = await server.next(3);
  assert.deepEqual(first.map((m) => [m.from, m.term]), [[2, 1], [2, 2], [2, 3]]);
  m2.send(heartbeat(2, 1, 4));
  assert.equal((await server.next(4))[3]?.term, 4);
  m2.close();
  await server.listener.close();
});

test('a client certificate on the peer port is refused before any message is delivered', async () => {
  const server = await startListener('m1');
  const intruder = link('m2', 'm1', server.port, { cert: 'admin' });
  intruder.send(heartbeat(2, 1, 1));
  assert.match(await refusal(server), /not a member certificate/);
  assert.equal(server.received.length, 0);
  intruder.close();
  await server.listener.close();
});

test('a client certificate on the peer port is closed right after the handshake, without waiting for a hello', async () => {
  const server = await startListener('m1');
  const socket = connect({ ...clientTlsOptions(mustGet(material.get('admin'), 'admin')), host: '127.0.0.1', port: server.port });
  socket.on('error', () => undefined);
  socket.resume();
  await once(socket, 'secureConnect');
  // Nothing is sent: the hello timeout would end the connection too, but with another reason.
  await once(socket, 'close');
  assert.equal(server.refused.length, 1);
  assert.match(server.refused[0] ?? '', /^certificate [0-9a-f]+ \(CN=admin, O=system:masters\) is not a member certificate$/);
  await server.listener.close();
});

test('a dialer that sends a goaway (only listeners send it) is refused before anything after it is delivered', async () => {
  const server = await startListener('m1');
  const socket = connect({ ...clientTlsOptions(mustGet(material.get('m2'), 'm2')), host: '127.0.0.1', port: server.port });
  socket.on('error', () => undefined);
  socket.resume();
  await once(socket, 'secureConnect');
  for (const frame of [
    { kind: 'hello', clusterId: 'cluster-a', member: 'm2', memberId: 2 } as const,
    { kind: 'raft', message: heartbeat(2, 1, 1) } as const,
    { kind: 'goaway' } as const,
    { kind: 'raft', message: heartbeat(2, 1, 2) } as const,
  ]) socket.write(encodeFrame(encodePeerFrame(frame)));
  await once(socket, 'close');
  assert.deepEqual(server.refused, ['a goaway from a dialer']);
  assert.deepEqual(server.received.map((m) => m.term), [1]);
  await server.listener.close();
});

test("a member claiming another member's name is refused", async () => {
  const server = await startListener('m1');
  const liar = link('m2', 'm1', server.port, { claim: 'm3' });
  liar.send(heartbeat(3, 1, 1));
  assert.match(await refusal(server), /claims to be member "m3" but its certificate is member "m2"/);
  assert.equal(server.received.length, 0);
  liar.close();
  await server.listener.close();
});

test('a dialer refuses a server that is not the member it meant to reach', async () => {
  const server = await startListener('m3');
  const m2 = link('m2', 'm1', server.port);
  // The TLS client aborts the handshake; the listener sees the connection fail, never a hello.
  await once(server.listener.server, 'tlsClientError');
  assert.equal(m2.isConnected(), false);
  assert.equal(server.received.length, 0);
  m2.close();
  await server.listener.close();
});

test('a link redials after the peer restarts', async () => {
  const states: boolean[] = [];
  let stateChanged = () => undefined as void;
  const nextState = () => new Promise<void>((resolve) => { stateChanged = resolve; });
  const first = await startListener('m1');
  const m2 = link('m2', 'm1', first.port, { onStateChange: (connected) => { states.push(connected); stateChanged(); } });
  m2.send(heartbeat(2, 1, 1));
  await first.next(1);
  // A message written in the moment between the peer closing and the link noticing is lost, as on any
  // TCP link; Raft retries. So wait for the link to see the loss before restarting the peer.
  const lost = nextState();
  await first.listener.close();
  await lost;
  const restarted = await startListener('m1', first.port);
  while (states.at(-1) !== true) await nextState();
  assert.deepEqual(states, [true, false, true]);
  m2.send(heartbeat(2, 1, 2));
  const [message] = await restarted.next(1);
  assert.equal(message?.term, 2);
  m2.close();
  await restarted.listener.close();
});

/**
 * A clock for the link's redial waits: its time moves only when the test says, and each redial is
 * run at once, its requested wait recorded (`waits`, in order); `nextWait` resolves on the next one.
 */
class RedialClock implements Clock {
  readonly waits: number[] = [];
  private now = 0;
  private waiter: (() => void) | undefined;
  nowMs(): number {
    return this.now;
  }
  advance(ms: number): void {
    this.now += ms;
  }
  setTimer(delayMs: number, callback: () => void) {
    this.waits.push(delayMs);
    const timer = setImmediate(callback);
    this.waiter?.();
    return { cancel: () => clearImmediate(timer) };
  }
  defer(callback: () => void): void {
    setImmediate(callback);
  }
  async nextWait(): Promise<void> {
    await new Promise<void>((resolve) => { this.waiter = resolve; });
  }
}

test('a peer that refuses every connection after its handshake (another cluster) is redialed with backoff, not at once', async () => {
  const server = await startListener('m1', 0, new Set(), 'cluster-b');
  const clock = new RedialClock();
  const m2 = link('m2', 'm1', server.port, { clock });
  // Each connection completes its mutual-TLS handshake and is refused at its hello; none lasts.
  const dialsToReachCeiling = Math.ceil(Math.log2(peerDialBackoffMaxMs / peerDialBackoffMinMs)) + 1;
  while (clock.waits.length < dialsToReachCeiling + 2) await clock.nextWait();
  m2.close();
  await server.listener.close();
  assert.ok(server.refused.length >= dialsToReachCeiling, `the listener refused ${server.refused.length} connections`);
  assert.ok(server.refused.every((reason) => /cluster-a, not cluster-b/.test(reason)), server.refused.join('; '));
  // Full jitter: each wait lies in [ceiling/2, ceiling], the ceiling doubling per refused connection.
  for (const [i, wait] of clock.waits.entries()) {
    const ceiling = Math.min(peerDialBackoffMaxMs, peerDialBackoffMinMs * 2 ** i);
    assert.ok(wait >= Math.floor(ceiling / 2) && wait <= ceiling, `wait ${i} was ${wait} ms, not within [${ceiling / 2}, ${ceiling}]: ${clock.waits.join(', ')}`);
  }
  assert.ok(clock.waits.at(-1)! >= peerDialBackoffMaxMs / 2);
});

test('a connection that lasted peerConnectionStableMs proved the peer: its loss is redialed after the shortest wait again', async () => {
  const refusing = await startListener('m1', 0, new Set(), 'cluster-b');
  const clock = new RedialClock();
  let connected = () => undefined as void;
  const m2 = link('m2', 'm1', refusing.port, { clock, onStateChange: (up) => { if (up) connected(); } });
  while (clock.waits.length < 4) await clock.nextWait();
  // The peer is now the right cluster's member: the next dial is accepted and stays up.
  await refusing.listener.close();
  const accepting = await startListener('m1', refusing.port);
  const up = new Promise<void>((resolve) => { connected = resolve; });
  await up;
  m2.send(heartbeat(2, 1, 1));
  await accepting.next(1);
  clock.advance(peerConnectionStableMs);
  const before = clock.waits.length;
  await accepting.listener.close();
  while (clock.waits.length === before) await clock.nextWait();
  m2.close();
  assert.ok(clock.waits[before]! <= peerDialBackoffMinMs, `after a stable connection the link waited ${clock.waits[before]} ms (waits: ${clock.waits.join(', ')})`);
});

test('frames beyond the queue limit are dropped and reported, never sent later', () => {
  const drops: Message[] = [];
  const oneFrameBytes = encodeFrame(encodePeerFrame({ kind: 'raft', message: heartbeat(2, 1, 5) })).length;
  const unreachable = new PeerLink({
    peer: { id: 1, name: 'm1', url: 'https://127.0.0.1:1' },
    hello: { kind: 'hello', clusterId: 'cluster-a', member: 'm2', memberId: 2 },
    tlsOptions: (expected) => clientTlsOptions(mustGet(material.get('m2'), 'm2'), { expectedMember: expected }),
    clock: realClock, random: seededRandom(2), onDrop: (m) => drops.push(m), queueBytesMax: oneFrameBytes + 10,
  });
  assert.equal(unreachable.send(heartbeat(2, 1, 5)), true);
  assert.equal(unreachable.send(heartbeat(2, 1, 6)), false);
  assert.deepEqual(drops.map((m) => m.term), [6]);
  unreachable.close();
  assert.equal(unreachable.send(heartbeat(2, 1, 7)), false, 'a closed link drops');
});

test('refreshing the link, then the listener (goaway), moves to new connections without losing or reordering a message', async () => {
  const server = await startListener('m1');
  const m2 = link('m2', 'm1', server.port);
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  const total = 3000;
  for (let term = 1; term <= total; term++) {
    m2.send(heartbeat(2, 1, term));
    if (term % 50 === 0) await turn(); // refreshes land while messages are in flight
    if (term === 1000) m2.refresh();
    if (term === 2000) {
      while (server.hellos.length < 2) await turn();
      server.listener.refresh();
    }
  }
  while (server.hellos.length < 3) await turn();
  m2.send(heartbeat(2, 1, total + 1));
  const received = await server.next(total + 1);
  assert.deepEqual(received.map((m) => m.term), Array.from({ length: total + 1 }, (_, i) => i + 1));
  assert.deepEqual(server.hellos, [2, 2, 2], 'one connection at first, one after each refresh');
  assert.deepEqual(server.refused, []);
  m2.close();
  await server.listener.close();
});

test('a snapshot larger than a frame crosses in chunks and arrives whole', async () => {
  const server = await startListener('m1');
  const m2 = link('m2', 'm1', server.port);
  const data = new Uint8Array(3.5 * 1024 * 1024).map((_, i) => i % 251);
  m2.send({
    type: 'snap', from: 2, to: 1, term: 4, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0,
    snapshot: { metadata: { index: 90, term: 4, confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } }, data },
  });
  m2.send(heartbeat(2, 1, 4));
  const [snap, after] = await server.next(2);
  assert.equal(snap?.type, 'snap');
  assert.equal(snap?.snapshot?.metadata.index, 90);
  assert.ok(snap?.snapshot && Buffer.from(snap.snapshot.data).equals(Buffer.from(data)), 'snapshot data arrives byte for byte');
  assert.equal(after?.type, 'heartbeat');
  m2.close();
  await server.listener.close();
});

test('a member the listener knows as removed is told so — at its hello, or at its next message on a connection it already had — and nothing of it is delivered', async () => {
  const removed = new Set<number>();
  const server = await startListener('m1', 0, removed);
  let told = 0;
  const toldNow = () => new Promise<void>((resolve) => {
    const start = told;
    const check = () => (told > start ? resolve() : setImmediate(check));
    check();
  });
  // Connected while still a member: its messages arrive. Then the listener applies its removal.
  const m2 = link('m2', 'm1', server.port, { onRemoved: () => { told += 1; } });
  m2.send(heartbeat(2, 1, 1));
  await server.next(1);
  removed.add(2);
  const first = toldNow();
  m2.send(heartbeat(2, 1, 2));
  await first;
  // It dials again and is told at its hello.
  const again = toldNow();
  m2.send(heartbeat(2, 1, 3));
  await again;
  assert.deepEqual(server.received.map((m) => m.term), [1], 'nothing it sent after its removal was delivered');
  assert.match(mustGet(server.refused[0], 'refusal'), /member 2 was removed from the cluster; told it so/);
  m2.close();
  await server.listener.close();
});
