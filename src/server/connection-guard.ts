/**
 * What connections may hold of a listener (docs/security.md, "Connections"). Anyone who can reach a port
 * can open connections — no certificate is asked for until the TLS handshake — and each holds one of the
 * member's file descriptors, which its WAL, audit log and LevelDB need as well. So a guarded listener
 * holds:
 * - of the connections whose handshake has not finished, at most `handshakesPerAddressMax` from one
 *   source (an IPv4 address, an IPv6 /64): one more and the *oldest* of that source is closed; and at
 *   most `handshakesMax` in all: one more and the oldest of the source that holds the most is closed;
 * - at most `connectionsMax` connections: one more and the oldest unfinished handshake of the source that
 *   holds the most is closed — the new connection itself when it is the only one;
 * - at most `connectionsPerCertificateMax` connections whose handshake proved one certificate: one more
 *   and the new one is closed, so that no holder of a certificate fills the port for everyone else.
 * A client's handshake takes milliseconds, so under a flood of connections that never finish theirs the
 * flood's own are the ones closed and a client's new one gets through; no such flood holds a descriptor
 * for the handshake timeout, and a port full of them still takes a client. Each connection closed is told
 * to `refused` with the limit that closed it.
 */
import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';

export interface ConnectionLimits {
  connectionsMax: number;
  connectionsPerCertificateMax: number;
  handshakesMax: number;
  handshakesPerAddressMax: number;
}

/** Which limit closed a connection (the metric's `reason` label). */
export type ConnectionRefusal = 'connections' | 'certificate-connections' | 'handshakes' | 'address-handshakes';

export interface GuardedListener {
  /** Connections the listener holds now. */
  readonly open: () => number;
}

/** A connection in its handshake. */
interface Handshake {
  socket: Socket;
  key: string;
  source: string;
}

export function guardConnections(server: TlsServer, limits: ConnectionLimits, refused: (reason: ConnectionRefusal) => void): GuardedListener {
  const connections = new Set<Socket>();
  /** Connections in their handshake by connectionKey, oldest first; and by source, oldest first. */
  const handshakes = new Map<string, Handshake>();
  const handshakesFrom = new Map<string, Set<Handshake>>();
  /** Connections whose handshake finished, by their certificate's fingerprint. */
  const certified = new Map<string, Set<TLSSocket>>();
  const forget = (handshake: Handshake): void => {
    if (handshakes.get(handshake.key) !== handshake) return;
    handshakes.delete(handshake.key);
    const fromSource = handshakesFrom.get(handshake.source)!;
    fromSource.delete(handshake);
    if (fromSource.size === 0) handshakesFrom.delete(handshake.source);
  };
  const close = (handshake: Handshake, reason: ConnectionRefusal): void => {
    forget(handshake);
    connections.delete(handshake.socket);
    handshake.socket.destroy();
    refused(reason);
  };
  /** The oldest unfinished handshake of the source that holds the most. */
  const mostPending = (): Handshake => {
    let most: Set<Handshake> | undefined;
    for (const fromSource of handshakesFrom.values()) if (most === undefined || fromSource.size > most.size) most = fromSource;
    return oldest(most!);
  };
  server.prependListener('connection', (socket: Socket) => {
    // A connection reset before it was taken has no address any more: nothing to hold.
    if (socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    const handshake = { socket, key: connectionKey(socket), source: sourceOf(socket.remoteAddress) };
    connections.add(socket);
    socket.once('close', () => {
      connections.delete(socket);
      forget(handshake);
    });
    handshakes.set(handshake.key, handshake);
    let fromSource = handshakesFrom.get(handshake.source);
    if (fromSource === undefined) handshakesFrom.set(handshake.source, (fromSource = new Set()));
    fromSource.add(handshake);
    if (fromSource.size > limits.handshakesPerAddressMax) close(oldest(fromSource), 'address-handshakes');
    if (handshakes.size > limits.handshakesMax) close(mostPending(), 'handshakes');
    if (connections.size > limits.connectionsMax) close(mostPending(), 'connections');
  });
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const handshake = handshakes.get(connectionKey(socket));
    if (handshake !== undefined) forget(handshake);
    const fingerprint = socket.getPeerCertificate().fingerprint256 as string | undefined;
    // A certificate that did not verify is closed right after this (closeUnverifiedClients): not counted.
    if (fingerprint === undefined || !socket.authorized || socket.destroyed) return;
    let held = certified.get(fingerprint);
    if (held === undefined) certified.set(fingerprint, (held = new Set()));
    if (held.size >= limits.connectionsPerCertificateMax) {
      socket.destroy();
      refused('certificate-connections');
      return;
    }
    const byCertificate = held;
    byCertificate.add(socket);
    socket.once('close', () => {
      byCertificate.delete(socket);
      if (byCertificate.size === 0 && certified.get(fingerprint) === byCertificate) certified.delete(fingerprint);
    });
  });
  return { open: () => connections.size };
}

/** One connection among those a listener holds: both ends' addresses and ports (a TLS socket shows its TCP connection's). */
function connectionKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}|${socket.localAddress ?? ''}|${socket.localPort ?? ''}`;
}

function oldest(handshakes: Iterable<Handshake>): Handshake {
  for (const handshake of handshakes) return handshake;
  throw new Error('no handshake to close');
}

/**
 * The source a connection's handshakes are counted against: an IPv4 address (also when it comes
 * IPv4-mapped), or the /64 network of an IPv6 address (one host is commonly given a whole /64).
 */
export function sourceOf(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...new Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return `${groups.slice(0, 4).map((group) => Number.parseInt(group, 16).toString(16)).join(':')}::/64`;
}
