/**
 * This member's side of the peer network: a PeerLink to every other member of the table (dialled by the
 * URL --initial-cluster gives for its name, which may be a proxy, else by the URL the table holds) and
 * the PeerListener that accepts theirs. The replica sends through it from the moment it opens; the mesh
 * hands messages and drops to the replica once connected (`connect`), so a message before that — none
 * is sent before the replica's first tick — is simply dropped, as on a lost link.
 *
 * Invariant: at most one link per member id, none to this member or to a removed member.
 */
import type { Random } from '../base/index.ts';
import { realClock } from '../base/index.ts';
import type { ServerConfig } from '../config/index.ts';
import { acceptPeer, type TlsReloader } from '../pki/index.ts';
import type { Message } from '../raft/index.ts';
import type { MemberInfo, Replica } from '../replication/index.ts';
import { PeerLink, PeerListener } from '../transport/index.ts';
import type { MemberIdentity } from './member-identity.ts';
import type { Logger } from './member-log.ts';

export interface PeerMeshOptions {
  config: ServerConfig;
  identity: MemberIdentity;
  tls: TlsReloader;
  random: Random;
  log: Logger;
}

export class PeerMesh {
  private readonly links = new Map<number, PeerLink>();
  private replica: Replica | undefined;
  private listener: PeerListener | undefined;

  constructor(private readonly options: PeerMeshOptions) {}

  /** Hands incoming messages and undeliverable ones to `replica` from now on, and links to the members it knows. */
  connect(replica: Replica, initialMembers: readonly MemberInfo[]): void {
    this.replica = replica;
    this.sync(initialMembers);
    this.sync(replica.memberList());
  }

  send(message: Message): void {
    const peer = this.links.get(message.to);
    if (peer) peer.send(message);
    else this.replica?.reportUnreachable(message.to, message);
  }

  /** Links to every member of `members` not linked yet; closes the links of removed ones. */
  sync(members: readonly MemberInfo[]): void {
    for (const m of members) {
      if (m.removed) {
        this.links.get(m.id)?.close();
        this.links.delete(m.id);
      } else this.link(m.id, m.name, this.flagUrl(m.name) ?? m.peerUrl);
    }
  }

  /** Accepts the other members' links on --listen-peer-urls. */
  async listen(replica: Replica): Promise<void> {
    const { config, identity, tls, log } = this.options;
    const listener = new PeerListener({
      clusterId: identity.clusterId,
      tlsOptions: tls.serverOptions(),
      acceptPeer,
      knowsMember: (id, name) => {
        const known = replica.memberList().find((m) => m.id === id);
        // Before a joining member has the table, it trusts its --initial-cluster names (the certificate
        // already proved the name).
        return known !== undefined ? known.name === name && !known.removed : this.flagUrl(name) !== undefined;
      },
      onPeer: (id, name) => this.link(id, name, this.flagUrl(name) ?? replica.memberList().find((m) => m.id === id)?.peerUrl ?? ''),
      onMessage: (message) => replica.receive(message),
      onRefused: (reason) => log.warn({ reason }, 'peer connection refused'),
      clock: realClock,
    });
    tls.attach(listener.server);
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
  }

  private flagUrl(name: string): string | undefined {
    return this.options.config.initialCluster.find((m) => m.name === name)?.peerUrl;
  }

  private link(id: number, name: string, url: string): void {
    const { identity, config, tls, random } = this.options;
    if (id === identity.memberId || this.links.has(id) || url === '') return;
    this.links.set(id, new PeerLink({
      peer: { id, name, url },
      hello: { kind: 'hello', clusterId: identity.clusterId, member: config.name, memberId: identity.memberId },
      tlsOptions: (expectedMember) => tls.clientOptions({ expectedMember }),
      guard: (socket) => tls.guard(socket),
      clock: realClock,
      random,
      onDrop: (message: Message) => this.replica?.reportUnreachable(message.to, message),
    }));
  }
}
