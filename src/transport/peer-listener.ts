/**
 * The peer listener: accepts mutual-TLS connections from members, reads the hello, checks that the
 * certificate is a member certificate naming the member the hello claims to be, that the member id
 * belongs to that name in this cluster, then hands every Raft message on to the replication layer.
 * A connection whose certificate is not a member certificate (a client certificate) is closed right
 * after the handshake, without waiting for its hello.
 * Invariants: a connection that fails any check is destroyed before any message from it is
 * delivered; a delivered message's `from` is the id the connection proved.
 */
import { createServer, type Server, type TLSSocket, type TlsOptions } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../base/index.ts';
import { listenBacklog, peerHelloTimeoutMs, snapshotBytesMax } from '../config/index.ts';
import type { Message } from '../raft/index.ts';
import { decodePeerFrame, encodePeerFrame } from './codec.ts';
import { encodeFrame, FrameDecoder } from './frame.ts';

export interface PeerListenerOptions {
  clusterId: string;
  tlsOptions: TlsOptions;
  /**
   * Throws unless the socket's certificate is a member certificate (naming `claimedName`, once the
   * hello has named one).
   */
  acceptPeer: (socket: TLSSocket, claimedName?: string) => string;
  /** True if `id` may be the member named `name` in this cluster. */
  knowsMember: (id: number, name: string) => boolean;
  /**
   * True if this member applied the removal of member `id`: its connection is then told so (a removed
   * frame) and closed, at its hello or at its next message.
   */
  isRemoved?: (id: number) => boolean;
  /**
   * Told when a member certificate naming `name` claims an id knowsMember does not give that name (a
   * joining member whose slot is still unnamed may be one: the server may bind it, members.ts). The
   * connection is refused all the same; the dialer comes back once the name is bound.
   */
  onClaim?: (id: number, name: string) => void;
  onMessage: (message: Message) => void;
  /** Told of each member that proved itself (a member that joined may need a link back). */
  onPeer?: (id: number, name: string) => void;
  /** Told why a connection was refused (the reason never carries message contents). */
  onRefused?: (reason: string) => void;
  clock: Clock;
}

export class PeerListener {
  readonly server: Server;
  private readonly sockets = new Set<TLSSocket>();

  constructor(private readonly options: PeerListenerOptions) {
    this.server = createServer(options.tlsOptions, (socket) => this.accept(socket));
    // Handshake failures (no certificate, wrong CA, revoked, tlsHandshakeTimeoutMs passed) end there;
    // nothing reaches accept(). A plain tls.Server leaves the socket open after its handshake timeout
    // (https.Server closes it), so a connection that never sends its hello would stay forever.
    // A connection its client (or the member's connection guard) closed before its handshake ended says
    // nothing about a certificate: not worth a line each (a flood of them is counted in the metrics).
    this.server.on('tlsClientError', (error: NodeJS.ErrnoException, socket) => {
      if (error.code !== 'ECONNRESET') options.onRefused?.(error.message);
      socket.destroy();
    });
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, listenBacklog, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  /**
   * Asks every dialer to move to a new connection (this member's certificate was reloaded): each gets
   * a goaway frame, ends its connection without losing a frame, and dials again, meeting the new
   * certificate.
   */
  refresh(): void {
    const goaway = encodeFrame(encodePeerFrame({ kind: 'goaway' }));
    for (const socket of this.sockets) socket.write(goaway);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: TLSSocket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    try {
      this.options.acceptPeer(socket);
    } catch (error) {
      this.refuse(socket, error instanceof Error ? error.message : String(error));
      return;
    }
    const decoder = new FrameDecoder();
    let peerId: number | undefined;
    let chunks: Uint8Array[] = [];
    let chunkBytes = 0;
    const helloTimer = this.options.clock.setTimer(peerHelloTimeoutMs, () => this.refuse(socket, 'no hello in time'));
    socket.once('close', () => helloTimer.cancel());
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const bytes of decoder.push(chunk)) {
          const frame = decodePeerFrame(bytes);
          if (peerId === undefined) {
            if (frame.kind !== 'hello') throw new Error('first frame is not a hello');
            peerId = this.checkHello(socket, frame.clusterId, frame.member, frame.memberId);
            helloTimer.cancel();
            if (peerId === undefined) return;
            continue;
          }
          if (frame.kind === 'hello') throw new Error('a second hello on one connection');
          if (frame.kind === 'goaway') throw new Error('a goaway from a dialer');
          if (frame.kind === 'removed') throw new Error('a removed frame from a dialer');
          if (frame.kind === 'snapChunk') {
            chunkBytes += frame.data.length;
            if (chunkBytes > snapshotBytesMax) throw new Error(`snapshot larger than snapshotBytesMax (${snapshotBytesMax} bytes)`);
            chunks.push(frame.data);
            continue;
          }
          if (frame.message.from !== peerId) throw new Error(`message from ${frame.message.from} on member ${peerId}'s connection`);
          if (this.options.isRemoved?.(peerId) === true) {
            this.tellRemoved(socket, peerId);
            return;
          }
          const message = frame.message;
          if (frame.snapshotBytes !== undefined) {
            if (message.snapshot === undefined || frame.snapshotBytes !== chunkBytes) throw new Error('snapshot chunks do not add up to the announced size');
            message.snapshot = { ...message.snapshot, data: Buffer.concat(chunks) };
          } else if (chunks.length > 0) throw new Error('snapshot chunks without their snapshot');
          chunks = [];
          chunkBytes = 0;
          this.options.onMessage(message);
        }
      } catch (error) {
        this.refuse(socket, error instanceof Error ? error.message : String(error));
      }
    });
  }

  private checkHello(socket: TLSSocket, clusterId: string, member: string, memberId: number): number | undefined {
    if (clusterId !== this.options.clusterId) throw new Error(`peer belongs to cluster ${clusterId}, not ${this.options.clusterId}`);
    this.options.acceptPeer(socket, member);
    if (this.options.isRemoved?.(memberId) === true) {
      this.tellRemoved(socket, memberId);
      return undefined;
    }
    if (!this.options.knowsMember(memberId, member)) {
      this.options.onClaim?.(memberId, member);
      throw new Error(`member id ${memberId} is not member ${member} in this cluster`);
    }
    this.options.onPeer?.(memberId, member);
    return memberId;
  }

  /** Tells a removed member so (its certificate proved it is that member), then closes its connection. */
  private tellRemoved(socket: TLSSocket, id: number): void {
    this.options.onRefused?.(`member ${id} was removed from the cluster; told it so`);
    socket.end(encodeFrame(encodePeerFrame({ kind: 'removed' })));
    socket.destroySoon();
  }

  private refuse(socket: TLSSocket, reason: string): void {
    this.options.onRefused?.(reason);
    socket.destroy();
  }
}
