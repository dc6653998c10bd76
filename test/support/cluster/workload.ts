/**
 * The register workload of the Jepsen-style tests: clients doing read / write / compare-and-set on a
 * few keys through different members, each operation recorded with its call and return times.
 *
 * Recording rules (what makes the history honest):
 * - A completed operation records what the client saw.
 * - A write or CAS that failed indeterminately (timeout, connection lost after sending, 5xx) is
 *   recorded with return = Infinity: it may have happened. The client then takes a fresh client id,
 *   as Jepsen does, because its old operation is formally still in flight.
 * - A failure known to have changed nothing (UNAVAILABLE: never sent; REJECTED: 4xx) and any failed
 *   read are left out: they had no effect and observed nothing.
 * Values are unique (`<client>.<seq>`), so a read names the one write it saw.
 * Clients take the protocols in turn (register-clients.ts: the JSON gateway, gRPC through a real etcd
 * client), so one history holds operations of both APIs on the same keys.
 */
import { performance } from 'node:perf_hooks';
import type { Random } from '../../../src/base/index.ts';
import { text } from '../../../src/client/index.ts';
import type { KvInput, KvOperation, KvOutput } from '../linearizability/index.ts';
import type { Cluster } from './cluster.ts';
import { delay } from './cluster.ts';
import { type RegisterClient, type RegisterProtocol, registerClient } from './register-clients.ts';

export interface WorkloadOptions {
  cluster: Cluster;
  random: Random;
  clients: number;
  keys: number;
  /** Prefix of every key the workload touches. */
  prefix: string;
  /** Per-operation deadline. */
  opTimeoutMs: number;
  /** Upper bound of the random pause between one client's operations (keeps histories checkable). */
  thinkMsMax: number;
  /** Client c speaks protocols[c mod length]; both by default. */
  protocols?: readonly RegisterProtocol[];
}

export interface WorkloadStats {
  ok: number;
  /** Completed operations per protocol. */
  okByProtocol: Partial<Record<RegisterProtocol, number>>;
  indeterminate: number;
  failed: number;
  byError: Record<string, number>;
}

export class RegisterWorkload {
  readonly history: KvOperation[] = [];
  readonly stats: WorkloadStats = { ok: 0, okByProtocol: {}, indeterminate: 0, failed: 0, byError: {} };
  private stopping = false;
  private nextClientId = 0;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly options: WorkloadOptions) {}

  key(i: number): string {
    return `${this.options.prefix}k${i}`;
  }

  start(): void {
    const { cluster, clients } = this.options;
    const protocols = this.options.protocols ?? ['json', 'grpc'];
    for (let c = 0; c < clients; c++) {
      // Client c talks to member c mod n first, and fails over (only for unsent requests) to the rest.
      const n = cluster.size;
      const endpoints = Array.from({ length: n }, (_, k) => (c + k) % n);
      const protocol = protocols[c % protocols.length]!;
      this.loops.push(this.loop(registerClient(cluster, protocol, endpoints, this.options.opTimeoutMs), protocol));
    }
  }

  /** Stops issuing operations and waits for the ones in flight. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  /** A completed read of every key through every live member, appended to the history. */
  async finalReads(cluster: Cluster): Promise<Map<string, (string | null)[]>> {
    const values = new Map<string, (string | null)[]>();
    for (const member of cluster.live()) {
      const kv = cluster.client(member, { requestTimeoutMs: 10_000 });
      const clientId = this.nextClientId++;
      for (let k = 0; k < this.options.keys; k++) {
        const key = this.key(k);
        const call = performance.now();
        const got = await kv.get(key);
        const value = got === undefined ? null : text(got.value);
        this.history.push({ clientId, input: { kind: 'read', key }, output: { kind: 'read', value }, call, return: performance.now() });
        values.set(key, [...(values.get(key) ?? []), value]);
      }
    }
    return values;
  }

  /**
   * Every value any key of the workload ever held, read back from `member`'s store by walking each
   * key's revisions from the latest down (the store is never compacted in these tests). An
   * indeterminate write whose value is not among them never took effect.
   */
  async writtenValues(cluster: Cluster, member: number): Promise<Set<string>> {
    const kv = cluster.client(member, { requestTimeoutMs: 10_000 });
    const values = new Set<string>();
    for (let k = 0; k < this.options.keys; k++) {
      let at = await kv.get(this.key(k), { serializable: true });
      while (at !== undefined) {
        values.add(text(at.value));
        at = at.version > 1 ? await kv.get(this.key(k), { serializable: true, revision: at.modRevision - 1 }) : undefined;
      }
    }
    return values;
  }

  private async loop(client: RegisterClient, protocol: RegisterProtocol): Promise<void> {
    try {
      await this.operate(client, protocol);
    } finally {
      client.close();
    }
  }

  private async operate(client: RegisterClient, protocol: RegisterProtocol): Promise<void> {
    const { random, keys, thinkMsMax } = this.options;
    let clientId = this.nextClientId++;
    let seq = 0;
    const lastSeen = new Map<string, string | null>();
    while (!this.stopping) {
      const key = this.key(random.int(0, keys - 1));
      const roll = random.int(0, 99);
      const value = `${clientId}.${seq++}`;
      const input: KvInput = roll < 40 ? { kind: 'read', key }
        : roll < 70 ? { kind: 'write', key, value }
          : { kind: 'cas', key, expected: random.chance(0.2) ? null : (lastSeen.get(key) ?? null), value };
      const call = performance.now();
      try {
        const output = await perform(client, input);
        this.history.push({ clientId, input, output, call, return: performance.now() });
        this.stats.ok++;
        this.stats.okByProtocol[protocol] = (this.stats.okByProtocol[protocol] ?? 0) + 1;
        if (output.kind === 'read') lastSeen.set(key, output.value);
        else if (input.kind !== 'read' && (output.kind === 'write' || output.ok)) lastSeen.set(key, input.value);
      } catch (error) {
        const failure = client.failure(error, input.kind !== 'read');
        this.stats.byError[failure.code] = (this.stats.byError[failure.code] ?? 0) + 1;
        if (input.kind !== 'read' && failure.indeterminate) {
          this.history.push({ clientId, input, output: undefined, call, return: Infinity });
          this.stats.indeterminate++;
          clientId = this.nextClientId++;
        } else {
          this.stats.failed++;
        }
      }
      if (thinkMsMax > 0) await delay(random.int(0, thinkMsMax));
    }
  }
}

async function perform(client: RegisterClient, input: KvInput): Promise<KvOutput> {
  switch (input.kind) {
    case 'read': return { kind: 'read', value: await client.read(input.key) };
    case 'write':
      await client.write(input.key, input.value);
      return { kind: 'write' };
    case 'cas': return { kind: 'cas', ok: await client.cas(input.key, input.expected, input.value) };
  }
}
