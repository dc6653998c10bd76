/**
 * One outgoing link to one peer: dials over mutual TLS (the server must be the member we mean to
 * reach), says hello, then streams frames. Raft tolerates lost messages, so the link never blocks its
 * caller: frames queue up to peerQueueBytesMax while dialing or while the socket drains, and beyond
 * that they are dropped and reported, so the replication layer can tell Raft the peer is unreachable.
 * A broken connection is redialed with exponential backoff and jitter; the backoff starts afresh only
 * after a connection that lasted peerConnectionStableMs (a peer refusing each one after its handshake is
 * not a reachable peer). refresh() moves the link to a new connection (after this member's certificate
 * was reloaded) without losing a frame: the old connection is ended gracefully, the peer still reads
 * all written to it, and new frames wait in the backlog until the new connection is up. A listener
 * that wants the same (its certificate was reloaded) sends a goaway frame, the only frame a listener
 * sends; the link then refreshes. Only the dialer can end a connection without loss: node's TLS drops
 * what a socket still had to write once the other side has ended it.
 * Invariant: frames go out in the order send() accepted them, across connections too (the next
 * connection is dialed only once the previous one has closed); a dropped frame is never sent later.
 */
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Clock, Random, TimerHandle } from '../base/index.ts';
import { peerConnectionStableMs, peerDialBackoffMaxMs, peerDialBackoffMinMs, peerQueueBytesMax, snapshotChunkBytes } from '../config/index.ts';
import type { Message } from '../raft/index.ts';
import { decodePeerFrame, encodePeerFrame, type HelloFrame } from './codec.ts';
import { encodeFrame, FrameDecoder } from './frame.ts';

export interface PeerAddress {
  id: number;
  /** Member name, as its certificate names it. */
  name: string;
  /** https://host:port of its peer listener. */
  url: string;
}

export interface PeerLinkOptions {
  peer: PeerAddress;
  hello: HelloFrame;
  /** TLS options for dialing this peer (client certificate, CA, CRL, server identity check). */
  tlsOptions: (expectedMember: string) => ConnectionOptions;
  clock: Clock;
  random: Random;
  /** Called for each message that could not be queued. */
  onDrop: (message: Message) => void;
  /** Called when a connection is established or lost. */
  onStateChange?: (connected: boolean) => void;
  /** Called when the peer says the cluster removed this member (a removed frame). */
  onRemoved?: () => void;
  /**
   * Handed each connection once its handshake is done, to close it later if the peer's certificate is
   * revoked or expires (TlsReloader.guard); the link then redials, and the handshake refuses it.
   */
  guard?: (socket: TLSSocket) => void;
  queueBytesMax?: number;
}

export class PeerLink {
  private socket: TLSSocket | undefined;
  /** Frames may be written to `socket`: its handshake is done and neither side has ended it. */
  private connected = false;
  /** When `socket` completed its handshake (clock ms; its close is then reported through onStateChange); undefined before. */
  private establishedAtMs: number | undefined;
  /** refresh() ended `socket`: the next connection is dialed as soon as it has closed. */
  private replacing = false;
  private closed = false;
  /** Dials since a connection last proved itself (lasted peerConnectionStableMs): the backoff's exponent. */
  private failedDials = 0;
  private redial: TimerHandle | undefined;
  /** Frames accepted while not connected; sent in order once the hello is out. */
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private readonly queueBytesMax: number;

  constructor(private readonly options: PeerLinkOptions) {
    this.queueBytesMax = options.queueBytesMax ?? peerQueueBytesMax;
    this.dial();
  }

  /** The peer this link dials. */
  get peer(): PeerAddress {
    return this.options.peer;
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** Queues a message for the peer; returns false (and reports a drop) when the queue is full. */
  send(message: Message): boolean {
    if (this.closed) return this.drop(message);
    const frames = encodeMessage(message);
    const bytes = frames.reduce((sum, f) => sum + f.length, 0);
    if (this.connected && this.socket) {
      if (this.socket.writableLength + bytes > this.queueBytesMax) return this.drop(message);
      for (const frame of frames) this.socket.write(frame);
      return true;
    }
    if (this.backlogBytes + bytes > this.queueBytesMax) return this.drop(message);
    this.backlog.push(...frames);
    this.backlogBytes += bytes;
    return true;
  }

  /** Moves to a new connection with the current TLS options, losing no frame (see the file header). */
  refresh(): void {
    if (this.closed || !this.connected || this.socket === undefined) return;
    this.connected = false;
    this.replacing = true;
    this.socket.end();
  }

  close(): void {
    this.closed = true;
    this.redial?.cancel();
    this.socket?.destroy();
    this.backlog = [];
    this.backlogBytes = 0;
  }

  private drop(message: Message): false {
    this.options.onDrop(message);
    return false;
  }

  private dial(): void {
    const { peer } = this.options;
    const url = new URL(peer.url);
    const socket = connect({
      ...this.options.tlsOptions(peer.name),
      host: url.hostname,
      port: Number(url.port),
      servername: isIp(url.hostname) ? undefined : url.hostname,
    });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.once('secureConnect', () => {
      if (this.closed) return;
      this.options.guard?.(socket);
      if (socket.destroyed) return;
      this.connected = true;
      this.establishedAtMs = this.options.clock.nowMs();
      socket.write(encodeFrame(encodePeerFrame(this.options.hello)));
      for (const frame of this.backlog) socket.write(frame);
      this.backlog = [];
      this.backlogBytes = 0;
      this.options.onStateChange?.(true);
    });
    // The peer sends only a goaway or a removed frame; anything else is a broken peer, and the link redials.
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const bytes of decoder.push(chunk)) {
          const kind = decodePeerFrame(bytes).kind;
          if (kind === 'removed') this.options.onRemoved?.();
          else if (kind !== 'goaway') throw new Error('a listener sent a frame other than goaway or removed');
          else if (socket === this.socket) this.refresh();
        }
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    // The peer ended the connection (it is stopping, or closed a revoked one): what this side had not
    // yet written is lost (see the file header), and new frames wait in the backlog for the next one.
    socket.once('end', () => { this.connected = false; });
    socket.once('close', () => {
      const establishedAtMs = this.establishedAtMs;
      // A handshake alone proves nothing: a peer refuses a connection at its hello (another cluster, a
      // removed member). Only a connection that lasted counts, or such a peer is redialed at once forever.
      if (establishedAtMs !== undefined && this.options.clock.nowMs() - establishedAtMs >= peerConnectionStableMs) this.failedDials = 0;
      this.connected = false;
      this.establishedAtMs = undefined;
      this.socket = undefined;
      if (establishedAtMs !== undefined) this.options.onStateChange?.(false);
      if (this.closed) return;
      if (this.replacing) {
        this.replacing = false;
        this.dial();
      } else {
        this.scheduleRedial();
      }
    });
  }

  private scheduleRedial(): void {
    const ceilingMs = Math.min(peerDialBackoffMaxMs, peerDialBackoffMinMs * 2 ** this.failedDials);
    this.failedDials = Math.min(this.failedDials + 1, 30);
    // Full jitter keeps members that lost each other at once from redialing in lockstep.
    const delayMs = this.options.random.int(Math.floor(ceilingMs / 2), ceilingMs);
    this.redial = this.options.clock.setTimer(delayMs, () => {
      this.redial = undefined;
      if (!this.closed) this.dial();
    });
  }
}

/** A message as frames: a snapshot's data is streamed ahead of it in chunks of snapshotChunkBytes. */
function encodeMessage(message: Message): Buffer[] {
  const snapshot = message.snapshot;
  if (snapshot === undefined || snapshot.data.length <= snapshotChunkBytes) {
    return [encodeFrame(encodePeerFrame({ kind: 'raft', message }))];
  }
  const frames: Buffer[] = [];
  for (let offset = 0; offset < snapshot.data.length; offset += snapshotChunkBytes) {
    frames.push(encodeFrame(encodePeerFrame({ kind: 'snapChunk', data: snapshot.data.subarray(offset, offset + snapshotChunkBytes) })));
  }
  const head: Message = { ...message, snapshot: { ...snapshot, data: new Uint8Array(0) } };
  frames.push(encodeFrame(encodePeerFrame({ kind: 'raft', message: head, snapshotBytes: snapshot.data.length })));
  return frames;
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
