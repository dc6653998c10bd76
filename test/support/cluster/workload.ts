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
 */
import { performance } from 'node:perf_hooks';
import type { Random } from '../../../src/base/index.ts';
import { isClientError, type KvClient, text } from '../../../src/client/index.ts';
import type { KvInput, KvOperation, KvOutput } from '../linearizability/index.ts';
import type { Cluster } from './cluster.ts';
import { delay } from './cluster.ts';

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
}

export interface WorkloadStats {
  ok: number;
  indeterminate: number;
  failed: number;
  byError: Record<string, number>;
}

export class RegisterWorkload {
  readonly history: KvOperation[] = [];
  readonly stats: WorkloadStats = { ok: 0, indeterminate: 0, failed: 0, byError: {} };
  private stopping = false;
  private nextClientId = 0;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly options: WorkloadOptions) {}

  key(i: number): string {
    return `${this.options.prefix}k${i}`;
  }

  start(): void {
    const { cluster, clients } = this.options;
    for (let c = 0; c < clients; c++) {
      // Client c talks to member c mod n first, and fails over (only for unsent requests) to the rest.
      const n = cluster.size;
      const endpoints = Array.from({ length: n }, (_, k) => (c + k) % n);
      const kv = cluster.client(endpoints, { requestTimeoutMs: this.options.opTimeoutMs, connectTimeoutMs: 500 });
      this.loops.push(this.loop(kv));
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

  private async loop(kv: KvClient): Promise<void> {
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
        const output = await this.perform(kv, input);
        this.history.push({ clientId, input, output, call, return: performance.now() });
        this.stats.ok++;
        if (output.kind === 'read') lastSeen.set(key, output.value);
        else if (input.kind !== 'read' && (output.kind === 'write' || output.ok)) lastSeen.set(key, input.value);
      } catch (error) {
        if (!isClientError(error)) throw error;
        this.stats.byError[error.code] = (this.stats.byError[error.code] ?? 0) + 1;
        if (input.kind !== 'read' && error.indeterminate) {
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

  private async perform(kv: KvClient, input: KvInput): Promise<KvOutput> {
    switch (input.kind) {
      case 'read': {
        const got = await kv.get(input.key);
        return { kind: 'read', value: got === undefined ? null : text(got.value) };
      }
      case 'write':
        await kv.put(input.key, input.value);
        return { kind: 'write' };
      case 'cas': {
        const result = await kv.txn({
          compare: [input.expected === null
            ? { key: input.key, target: 'VERSION', result: 'EQUAL', version: 0 }
            : { key: input.key, target: 'VALUE', result: 'EQUAL', value: input.expected }],
          success: [{ put: { key: input.key, value: input.value } }],
        });
        return { kind: 'cas', ok: result.succeeded };
      }
    }
  }
}
