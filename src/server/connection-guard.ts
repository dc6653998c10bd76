/**
 * What connections may hold of a listener (docs/security.md, "Connections"). Anyone who can reach a port
 * can open connections — no certificate is asked for until the TLS handshake — and each holds one of the
 * member's file descriptors, which its WAL, audit log and LevelDB need as well. So a guarded listener
 * holds:
 * - of the connections whose handshake has not finished, at most `handshakesMax` in all and
 *   `handshakesPerAddressMax` from one source (an IPv4 address, an IPv6 /64): one more and the *oldest*
 *   such connection is closed;
 * - at most `connectionsMax` connections: one more and the oldest connection still in its handshake is
 *   closed, or the new one if every other has finished its handshake.
 * A client's handshake takes milliseconds, so under a flood of connections that never finish theirs the
 * flood's own are the ones closed and a client's new one gets through; no such flood holds a descriptor
 * for the handshake timeout, and a port full of them still takes a client. Each connection closed is told
 * to `refused` with the limit that closed it.
 */
import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';

export interface ConnectionLimits {
  connectionsMax: number;
  handshakesMax: number;
  handshakesPerAddressMax: number;
}

/** Which limit closed a connection (the metric's `reason` label). */
export type ConnectionRefusal = 'connections' | 'handshakes' | 'address-handshakes';

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
  server.prependListener('connection', (socket: Socket) => {
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
    if (handshakes.size > limits.handshakesMax) close(oldest(handshakes.values()), 'handshakes');
    if (connections.size > limits.connectionsMax) close(oldest(handshakes.values()), 'connections');
  });
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    const handshake = handshakes.get(connectionKey(socket));
    if (handshake !== undefined) forget(handshake);
  });
  return { open: () => connections.size };
}

/** One connection among those a listener holds: its client's address and port (a TLS socket shows its TCP connection's). */
function connectionKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}`;
}

function oldest(handshakes: Iterable<Handshake>): Handshake {
  for (const handshake of handshakes) return handshake;
  throw new Error('no handshake to close');
}

/**
 * The source a connection's handshakes are counted against: an IPv4 address (also when it comes
 * IPv4-mapped), or the /64 network of an IPv6 address (one host is commonly given a whole /64).
 */
export function sourceOf(address: string | undefined): string {
  if (address === undefined) return '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...new Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return `${groups.slice(0, 4).map((group) => Number.parseInt(group, 16).toString(16)).join(':')}::/64`;
}
