/**
 * This member's side of the peer network: a PeerLink to every other member of the table (dialled by the
 * URL --initial-cluster gives for its name, which may be a proxy, else by the URL the table holds) and
 * the PeerListener that accepts theirs. The replica sends through it from the moment it opens; the mesh
 * hands messages and drops to the replica once connected (`connect`), so a message before that — none
 * is sent before the replica's first tick — is simply dropped, as on a lost link.
 *
 * Joining (docs/security.md, "Joining"): a member whose slot has no name yet (etcd's MemberAdd carries
 * none) is not dialled; when a member certificate claims its id on the listener, the mesh proposes
 * binding the certificate's name to it (Replica.bindMember) and refuses the connection, and the joiner
 * is let in once the name is bound. A joining member dials the members its --initial-cluster names,
 * sending only its hello (join links), until its table names it. A member moved to another peer URL
 * (MemberUpdate) is re-dialled there.
 *
 * Invariant: at most one link per member id, none to this member, to a removed member or to an unnamed one.
 */
import type { Server as TlsServer } from 'node:tls';
import type { Random } from '../base/index.ts';
import { realClock } from '../base/index.ts';
import type { ServerConfig } from '../config/index.ts';
import { acceptPeer, type TlsReloader } from '../pki/index.ts';
import type { Message } from '../raft/index.ts';
import type { MemberInfo, Replica } from '../replication/index.ts';
import { PeerLink, PeerListener } from '../transport/index.ts';
import type { MemberIdentity } from './member-identity.ts';
import type { Logger } from './member-log.ts';
import { refusalLog } from './sampled-log.ts';

export interface PeerMeshOptions {
  config: ServerConfig;
  identity: MemberIdentity;
  tls: TlsReloader;
  random: Random;
  log: Logger;
  /** Bounds what connections may hold of the peer listener (connection-guard.ts); called before it listens. */
  guard: (server: TlsServer) => void;
}

export class PeerMesh {
  private readonly links = new Map<number, PeerLink>();
  private joinLinks: PeerLink[] = [];
  /** Member ids this member proposed a binding for that has not ended yet. */
  private readonly binding = new Set<number>();
  private replica: Replica | undefined;
  private listener: PeerListener | undefined;

  constructor(private readonly options: PeerMeshOptions) {}

  /** Hands incoming messages and undeliverable ones to `replica` from now on, and links to the members it knows. */
  connect(replica: Replica, initialMembers: readonly MemberInfo[]): void {
    this.replica = replica;
    const { config } = this.options;
    if (config.join && !this.namesSelf(replica.memberList())) {
      this.joinLinks = config.initialCluster.filter((m) => m.name !== config.name).map((m) => this.dial(0, m.name, m.peerUrl));
    }
    this.sync(initialMembers);
    this.sync(replica.memberList());
  }

  send(message: Message): void {
    const peer = this.links.get(message.to);
    if (peer) peer.send(message);
    else this.replica?.reportUnreachable(message.to, message);
  }

  /** Links to every member of `members` not linked yet (re-dials a moved one); closes the links of removed ones. */
  sync(members: readonly MemberInfo[]): void {
    for (const m of members) {
      if (m.removed) {
        this.links.get(m.id)?.close();
        this.links.delete(m.id);
      } else this.link(m.id, m.name, this.flagUrl(m.name) ?? m.peerUrl);
    }
    if (this.namesSelf(members)) this.closeJoinLinks();
  }

  /** Accepts the other members' links on --listen-peer-urls. */
  async listen(replica: Replica): Promise<void> {
    const { config, identity, tls, log } = this.options;
    const refusals = refusalLog(log, 'peer connection refused');
    const listener = new PeerListener({
      clusterId: identity.clusterId,
      tlsOptions: tls.serverOptions(),
      acceptPeer,
      isRemoved: (id) => replica.memberList().some((m) => m.id === id && m.removed),
      knowsMember: (id, name) => {
        const members = replica.memberList();
        const known = members.find((m) => m.id === id);
        if (known !== undefined) return known.name === name && !known.removed;
        // Only a joining member that does not have the table yet (it does not name this member) trusts its
        // --initial-cluster names for ids it does not know (the certificate already proved the name). Once
        // it has the table, an id the table does not hold is no member's: a removed member's certificate
        // claiming one would otherwise come back in, as an id no record says was removed.
        return !this.namesSelf(members) && this.flagUrl(name) !== undefined;
      },
      onClaim: (id, name) => this.bind(replica, id, name),
      onPeer: (id, name) => this.link(id, name, this.flagUrl(name) ?? replica.memberList().find((m) => m.id === id)?.peerUrl ?? ''),
      onMessage: (message) => replica.receive(message),
      onRefused: (reason) => refusals.line({ reason }),
      clock: realClock,
    });
    tls.attach(listener.server);
    this.options.guard(listener.server);
    await listener.listen(config.listenPeer.hostname, Number(config.listenPeer.port));
    this.listener = listener;
  }

  /** A new certificate of this member reaches every link, both ways, without losing a message (docs/security.md, "Revocation"). */
  refresh(): void {
    for (const l of this.links.values()) l.refresh();
    this.listener?.refresh();
  }

  /** Stops accepting links (before the replica closes: member.ts). */
  async stopListening(): Promise<void> {
    await this.listener?.close();
  }

  /** Closes every link (after the replica closed). */
  closeLinks(): void {
    for (const l of this.links.values()) l.close();
    this.closeJoinLinks();
  }

  /** Proposes binding `name` to the unnamed slot `id`; only an unnamed slot, and the replica checks it again where it applies. */
  private bind(replica: Replica, id: number, name: string): void {
    if (this.binding.has(id) || replica.memberList().find((m) => m.id === id && !m.removed)?.name !== '') return;
    this.binding.add(id);
    const { log } = this.options;
    replica.bindMember(id, name).then(
      () => log.info({ id, name }, 'member certificate bound to its member id'),
      (error: Error) => log.warn({ id, name, reason: error.message }, 'member certificate not bound'),
    ).finally(() => this.binding.delete(id));
  }

  private namesSelf(members: readonly MemberInfo[]): boolean {
    return members.some((m) => m.id === this.options.identity.memberId && m.name === this.options.config.name);
  }

  private closeJoinLinks(): void {
    for (const l of this.joinLinks.splice(0)) l.close();
  }

  private flagUrl(name: string): string | undefined {
    return this.options.config.initialCluster.find((m) => m.name === name)?.peerUrl;
  }

  private link(id: number, name: string, url: string): void {
    if (id === this.options.identity.memberId || url === '' || name === '') return;
    const current = this.links.get(id);
    if (current !== undefined && current.peer.url === url && current.peer.name === name) return;
    current?.close();
    this.links.set(id, this.dial(id, name, url));
  }

  private dial(id: number, name: string, url: string): PeerLink {
    const { identity, config, tls, random } = this.options;
    return new PeerLink({
      peer: { id, name, url },
      hello: { kind: 'hello', clusterId: identity.clusterId, member: config.name, memberId: identity.memberId },
      tlsOptions: (expectedMember) => tls.clientOptions({ expectedMember }),
      guard: (socket) => tls.guard(socket),
      clock: realClock,
      random,
      onDrop: (message: Message) => this.replica?.reportUnreachable(message.to, message),
      onRemoved: () => this.replica?.learnRemoved(),
    });
  }
}
