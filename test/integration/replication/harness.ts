/**
 * Several replicas in one process with real WALs, real LevelDB stores and real keyrings, joined by an
 * in-memory transport (the deliberate seam: messages are handed over on the next turn of the event
 * loop, and a link can be cut). Used to test the Ready loop without sockets.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock, seededRandom } from '../../../src/base/index.ts';
import { createKeyFile, keyFileKek, openKeyring, type Keyring } from '../../../src/crypto/index.ts';
import type { Message } from '../../../src/raft/index.ts';
import { Replica, type MemberInfo } from '../../../src/replication/index.ts';
import { type KvBackend, replicaBackend } from '../../../src/api/index.ts';
import { waitUntil } from '../../support/wait.ts';

export const testTickMs = 10;
/** How long a test gives the in-process cluster to reach a state it waits for. */
export const waitLimitMs = 10_000;

export class InProcessCluster {
  readonly replicas = new Map<number, Replica>();
  private readonly keyrings = new Map<number, Keyring>();
  private readonly cutLinks = new Set<string>();
  private constructor(readonly dir: string, readonly members: MemberInfo[]) {}

  /**
   * `namesOnly`: the initial members carry names without URLs, as `coffer server` bootstraps them; each
   * member records its URLs later (Replica.publishSelf, `urlsOf`).
   */
  static async start(
    size: number, options: { compaction?: { everyEntries: number; catchUpEntries: number }; namesOnly?: boolean; tickMs?: number } = {},
  ): Promise<InProcessCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-replication-'));
    const members: MemberInfo[] = Array.from({ length: size }, (_, i) => ({
      id: i + 1, name: `m${i + 1}`, ...(options.namesOnly === true ? { peerUrl: '', clientUrl: '' } : urlsOf(i + 1)), learner: false, removed: false,
    }));
    const cluster = new InProcessCluster(dir, members);
    cluster.compaction = options.compaction;
    cluster.tickMs = options.tickMs ?? testTickMs;
    for (const m of members) await cluster.startMember(m.id, m.name, members);
    return cluster;
  }

  compaction: { everyEntries: number; catchUpEntries: number } | undefined;
  tickMs = testTickMs;

  async startMember(id: number, name: string, initialMembers?: MemberInfo[]): Promise<Replica> {
    const memberDir = join(this.dir, name);
    const keyFile = join(this.dir, `${name}.key`);
    if (!this.keyrings.has(id)) await createKeyFile(keyFile).catch(() => undefined);
    const keyring = await openKeyring({ dir: memberDir, kek: await keyFileKek(keyFile) });
    this.keyrings.set(id, keyring);
    const replica = await Replica.open({
      dataDir: memberDir, memberId: id, memberName: name, sealer: keyring, clock: realClock, random: seededRandom(id * 7919),
      send: (m) => this.deliver(m), tickMs: this.tickMs, proposalTimeoutMs: 3_000,
      ...(initialMembers ? { initialMembers } : {}),
      ...(this.compaction ? { compaction: this.compaction } : {}),
    });
    this.replicas.set(id, replica);
    return replica;
  }

  async stopMember(id: number): Promise<void> {
    const replica = this.replicas.get(id);
    this.replicas.delete(id);
    await replica?.close();
    await this.keyrings.get(id)?.close();
  }

  /** Cuts the link from `from` to `to`, one direction. */
  cut(from: number, to: number): void {
    this.cutLinks.add(`${from}>${to}`);
  }

  /** Cuts every link to and from `id`, both directions. */
  isolate(id: number): void {
    for (const other of this.members.map((m) => m.id)) {
      if (other === id) continue;
      this.cutLinks.add(`${id}>${other}`);
      this.cutLinks.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cutLinks.clear();
  }

  replica(id: number): Replica {
    const replica = this.replicas.get(id);
    if (!replica) throw new Error(`member ${id} is not running`);
    return replica;
  }

  /** Resolves when some running member is leader and every running member agrees on it. */
  async leader(): Promise<number> {
    return waitUntil(() => {
      const leaders = new Set([...this.replicas.values()].map((r) => r.status().leader));
      const [leader] = [...leaders];
      return leaders.size === 1 && leader !== undefined && leader !== 0 && this.replicas.get(leader)?.status().role === 'leader' ? leader : undefined;
    }, waitLimitMs, 'one leader every running member agrees on');
  }

  async close(): Promise<void> {
    for (const id of [...this.replicas.keys()]) await this.stopMember(id);
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Every message a member handed to the transport, as the peer would get it (type, sender, entries carried). */
  readonly sent: { type: Message['type']; from: number; entries: number }[] = [];

  private deliver(message: Message): void {
    this.sent.push({ type: message.type, from: message.from, entries: message.entries.length });
    if (this.cutLinks.has(`${message.from}>${message.to}`)) return;
    setImmediate(() => this.replicas.get(message.to)?.receive(structuredClone(message)));
  }
}

/** The URLs in-process member `id` is reached at. */
export function urlsOf(id: number): { peerUrl: string; clientUrl: string } {
  return { peerUrl: `mem://m${id}`, clientUrl: `mem://m${id}/client` };
}

/** The KV API's backend over an in-process replica. */
export function backendOf(replica: Replica): KvBackend {
  return replicaBackend(replica, { clusterId: 'test-cluster', dbSizeBytes: () => Promise.resolve(1) });
}
