/**
 * The network between members, with faults: every peer connection passes through an in-test proxy
 * that knows which member dialed which, so links can be cut per direction.
 *
 * Two ways to know the pair:
 * - 'pair' (Coffer): one plain TCP listener per DIRECTED pair (i→j). Member i's --initial-cluster names
 *   proxy(i→j) as member j's peer URL. TLS passes through untouched, end to end.
 * - 'target' (etcd): etcd derives member ids from the peer URLs, so every member must see the same
 *   URLs; there is one listener per target j, which terminates TLS, reads the dialer's member
 *   certificate to learn i, and dials j presenting member i's certificate.
 *
 * Fault semantics (i, j are member indexes):
 * - cut(i, j, 'drop'): connections member i opens to member j are reset, and new ones are refused
 *   (accepted, then reset). Connections j opened to i are untouched.
 * - cut(i, j, 'blackhole'): bytes from i to j stop flowing on every connection between them (held
 *   unread, so TCP backs up as it would behind a dead link); bytes from j to i still flow. heal()
 *   releases the held bytes, as a repaired link would deliver TCP's retransmissions.
 * - heal(): every link up.
 *
 * Invariant: a byte from i to j is forwarded only while link (i→j) is not blackholed, and a connection
 * dialed by i to j exists only while link (i→j) is not dropped.
 */
import { connect as netConnect, createServer as netCreateServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as tlsCreateServer, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { memberIdentity } from '../../../src/pki/index.ts';
import type { ClusterCerts } from './certs.ts';

export type FaultMode = 'drop' | 'blackhole';
export type LinkState = 'up' | FaultMode;

/** One direction of a connection: forwards src → dst unless its link is blackholed. */
class Forwarder {
  private held: Buffer[] = [];
  private ended = false;

  constructor(private readonly src: Socket, private readonly dst: Socket, private readonly isHeld: () => boolean) {
    src.on('data', (chunk: Buffer) => {
      if (this.isHeld()) {
        this.held.push(chunk);
        src.pause();
        return;
      }
      if (!dst.write(chunk)) src.pause();
    });
    dst.on('drain', () => {
      if (!this.isHeld()) src.resume();
    });
    src.on('end', () => {
      if (this.isHeld()) this.ended = true;
      else dst.end();
    });
  }

  /** The link is up again: deliver what was held and read on. */
  release(): void {
    if (this.isHeld()) return;
    for (const chunk of this.held) this.dst.write(chunk);
    this.held = [];
    if (this.ended) this.dst.end();
    else this.src.resume();
  }
}

interface Connection {
  from: number;
  to: number;
  sockets: Socket[];
  forwarders: Forwarder[];
}

export interface NetworkOptions {
  /** 'direct': no proxies at all (the bench, `npm run cluster`); cut() is then refused. */
  mode: 'pair' | 'target' | 'direct';
  names: readonly string[];
  /** Real peer port of each member. */
  peerPorts: readonly number[];
  /** Proxy ports: for 'pair', index i*n+j is the listener for i→j (i≠j); for 'target', index j. */
  proxyPorts: readonly number[];
  certs: ClusterCerts;
}

export class Network {
  readonly mode: 'pair' | 'target' | 'direct';
  private readonly n: number;
  private readonly links: LinkState[];
  private readonly servers: Server[] = [];
  private readonly connections = new Set<Connection>();

  private constructor(private readonly options: NetworkOptions) {
    this.mode = options.mode;
    this.n = options.names.length;
    this.links = new Array<LinkState>(this.n * this.n).fill('up');
  }

  static async start(options: NetworkOptions): Promise<Network> {
    const network = new Network(options);
    await network.listen();
    return network;
  }

  /** The peer URL member `from` must use for member `to`. */
  peerUrl(from: number, to: number): string {
    const { proxyPorts, peerPorts } = this.options;
    if (from === to || this.mode === 'direct') return `https://127.0.0.1:${peerPorts[to]}`;
    const port = this.mode === 'pair' ? proxyPorts[from * this.n + to] : proxyPorts[to];
    return `https://127.0.0.1:${port}`;
  }

  state(from: number, to: number): LinkState {
    if (from < 0 || to < 0) return 'up';
    return this.links[from * this.n + to] ?? 'up';
  }

  cut(from: number, to: number, mode: FaultMode = 'drop'): void {
    this.check(from, to);
    this.links[from * this.n + to] = mode;
    if (mode === 'drop') {
      for (const c of this.connections) if (c.from === from && c.to === to) this.close(c);
    }
  }

  cutBoth(a: number, b: number, mode: FaultMode = 'drop'): void {
    this.cut(a, b, mode);
    this.cut(b, a, mode);
  }

  /** Cuts every link into and out of `member`. */
  isolate(member: number, mode: FaultMode = 'drop'): void {
    for (let other = 0; other < this.n; other++) if (other !== member) this.cutBoth(member, other, mode);
  }

  heal(): void {
    this.links.fill('up');
    for (const c of this.connections) for (const f of c.forwarders) f.release();
  }

  /** Resets every proxied connection touching `member` (its process died; the kernel would do this). */
  resetMember(member: number): void {
    for (const c of this.connections) if (c.from === member || c.to === member) this.close(c);
  }

  async close(): Promise<void>;
  close(c: Connection): void;
  close(c?: Connection): Promise<void> | void {
    if (c !== undefined) {
      this.connections.delete(c);
      for (const s of c.sockets) s.destroy();
      return;
    }
    for (const conn of [...this.connections]) this.close(conn);
    return Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined);
  }

  private check(from: number, to: number): void {
    if (this.mode === 'direct') throw new Error('this cluster was started without fault proxies (faults: false)');
    if (!(from >= 0 && from < this.n && to >= 0 && to < this.n && from !== to)) throw new RangeError(`no link ${from}→${to}`);
  }

  private async listen(): Promise<void> {
    const { names, proxyPorts, certs } = this.options;
    const tasks: Promise<void>[] = [];
    if (this.mode === 'direct') return;
    if (this.mode === 'pair') {
      for (let i = 0; i < this.n; i++) {
        for (let j = 0; j < this.n; j++) {
          if (i === j) continue;
          const server = netCreateServer((socket) => this.accept(i, j, socket, () => netConnect({ host: '127.0.0.1', port: this.options.peerPorts[j] as number })));
          tasks.push(this.bind(server, proxyPorts[i * this.n + j] as number));
        }
      }
    } else {
      const ca = readFileSync(certs.ca, 'utf8');
      const pems = names.map((name) => ({ cert: readFileSync(certs.memberCert(name), 'utf8'), key: readFileSync(certs.memberKey(name), 'utf8') }));
      for (let j = 0; j < this.n; j++) {
        const server = tlsCreateServer({
          ...pems[j], ca, requestCert: true, rejectUnauthorized: true,
        }, (socket: TLSSocket) => {
          let from: number;
          try {
            from = names.indexOf(memberIdentity(socket.getPeerCertificate(true)));
          } catch {
            from = -1;
          }
          if (from === j) {
            socket.destroy();
            return;
          }
          if (from < 0) {
            // A member added after the start (not in the fault matrix): forwarded, never faulted.
            const extra = this.extraPem(socket);
            if (extra === undefined) {
              socket.destroy();
              return;
            }
            this.accept(-1, j, socket, () => tlsConnect({ host: '127.0.0.1', port: this.options.peerPorts[j], ca, ...extra }));
            return;
          }
          this.accept(from, j, socket, () => tlsConnect({
            host: '127.0.0.1', port: this.options.peerPorts[j], ca, ...pems[from],
            // The proxy forwards whatever the member's own client would send (ALPN included, for HTTP/2).
            ...(socket.alpnProtocol ? { ALPNProtocols: [socket.alpnProtocol] } : {}),
          }));
        });
        server.on('tlsClientError', () => undefined);
        tasks.push(this.bind(server, proxyPorts[j] as number));
      }
    }
    await Promise.all(tasks);
  }

  /** Certificate and key of a dialing member outside the initial set, from the cluster's CA dir. */
  private extraPem(socket: TLSSocket): { cert: string; key: string } | undefined {
    try {
      const name = memberIdentity(socket.getPeerCertificate(true));
      return { cert: readFileSync(this.options.certs.memberCert(name), 'utf8'), key: readFileSync(this.options.certs.memberKey(name), 'utf8') };
    } catch {
      return undefined;
    }
  }

  private bind(server: Server, port: number): Promise<void> {
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  }

  private accept(from: number, to: number, inbound: Socket, dial: () => Socket): void {
    inbound.on('error', () => undefined);
    if (this.state(from, to) === 'drop') {
      inbound.destroy();
      return;
    }
    const upstream = dial();
    upstream.on('error', () => undefined);
    const c: Connection = { from, to, sockets: [inbound, upstream], forwarders: [] };
    c.forwarders.push(
      new Forwarder(inbound, upstream, () => this.state(from, to) === 'blackhole'),
      new Forwarder(upstream, inbound, () => this.state(to, from) === 'blackhole'),
    );
    for (const s of c.sockets) s.on('close', () => this.close(c));
    this.connections.add(c);
  }
}
