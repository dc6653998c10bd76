/**
 * The client load a certificate rotation must not disturb: per member, one KV writer (puts), one
 * Secret updater (k8s PUT carrying the resourceVersion it last got back, so a lost or doubled update
 * would show as a conflict) and one linearizable reader, each issuing one request after another until
 * stopped. Every worker talks to exactly one member (no failover), so a refused handshake or a dropped
 * connection on that member is a failed request here, not hidden by a retry elsewhere.
 *
 * Every request is counted as a success or recorded as a failure with its worker and reason. A read
 * that misses a put acknowledged before the read started is a failure too (a linearizable read must
 * see it).
 *
 * Client certificate rotation: node's https.Agent fixes its TLS options when built and KvClient /
 * K8sClient have no way to change them, so useTls() builds new clients with the new certificate and
 * every worker takes them for its next request; the old clients are closed at stop().
 */
import type { ConnectionOptions } from 'node:tls';
import { K8sClient, type K8sObject, KvClient, text } from '../../../src/client/index.ts';

export const loadNamespace = 'default';
export const kvPrefix = 'cert-rot/kv/';

interface Clients {
  generation: number;
  kv: KvClient[];
  k8s: K8sClient[];
}

export interface LoadFailure {
  worker: string;
  reason: string;
  atMs: number;
}

export interface LoadCounts {
  puts: number;
  secretUpdates: number;
  reads: number;
  /** Successful requests made with each client certificate generation (index = generation). */
  byGeneration: number[];
}

const secretName = (member: number): string => `cert-rot-${member}`;
const kvKey = (member: number): string => `${kvPrefix}${member}`;

export class RotationLoad {
  readonly counts: LoadCounts = { puts: 0, secretUpdates: 0, reads: 0, byGeneration: [] };
  readonly failures: LoadFailure[] = [];
  private readonly generations: Clients[] = [];
  private current: Clients;
  /** Per member: the highest sequence number a put to its key was acknowledged with. */
  private readonly acked: number[];
  private running = false;
  private workers: Promise<void>[] = [];
  private readonly startedMs = Date.now();

  constructor(private readonly endpoints: readonly string[], tls: ConnectionOptions, private readonly requestTimeoutMs = 10_000) {
    this.acked = endpoints.map(() => 0);
    this.current = this.build(tls);
  }

  get total(): number {
    return this.counts.puts + this.counts.secretUpdates + this.counts.reads;
  }

  /** The client certificate generation the workers use for their next requests. */
  get generation(): number {
    return this.current.generation;
  }

  /** Creates the Secrets the updaters own, then starts every worker. */
  async start(): Promise<void> {
    const k8s = this.current.k8s[0] as K8sClient;
    for (let m = 0; m < this.endpoints.length; m++) {
      await k8s.create('secrets', secretManifest(m, 0), { namespace: loadNamespace });
    }
    this.running = true;
    this.workers = this.endpoints.flatMap((_, m) => [this.putter(m), this.updater(m), this.reader(m)]);
  }

  /** From the next request on, every worker uses clients holding `tls` (a new client certificate). */
  useTls(tls: ConnectionOptions): void {
    this.current = this.build(tls);
  }

  /** Stops after every worker's request in flight has finished; closes every client. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
    for (const g of this.generations) {
      for (const c of [...g.kv, ...g.k8s]) c.close();
    }
  }

  private build(tls: ConnectionOptions): Clients {
    const options = { tls, requestTimeoutMs: this.requestTimeoutMs };
    const clients: Clients = {
      generation: this.generations.length,
      kv: this.endpoints.map((e) => new KvClient({ ...options, endpoints: [e] })),
      k8s: this.endpoints.map((e) => new K8sClient({ ...options, endpoints: [e] })),
    };
    this.generations.push(clients);
    this.counts.byGeneration.push(0);
    return clients;
  }

  /** Runs `request` once with the current clients; counts it, or records why it failed. */
  private async attempt(worker: string, request: (clients: Clients) => Promise<void>): Promise<boolean> {
    const clients = this.current;
    try {
      await request(clients);
      this.counts.byGeneration[clients.generation] = (this.counts.byGeneration[clients.generation] ?? 0) + 1;
      return true;
    } catch (error) {
      this.failures.push({ worker, reason: error instanceof Error ? error.message : String(error), atMs: Date.now() - this.startedMs });
      return false;
    }
  }

  private async putter(m: number): Promise<void> {
    for (let seq = 1; this.running; seq++) {
      const ok = await this.attempt(`put@${m}`, async (c) => {
        await (c.kv[m] as KvClient).put(kvKey(m), String(seq));
      });
      if (ok) {
        this.counts.puts++;
        this.acked[m] = seq;
      }
    }
  }

  private async updater(m: number): Promise<void> {
    let last: K8sObject | undefined;
    for (let seq = 1; this.running; seq++) {
      const ok = await this.attempt(`secret@${m}`, async (c) => {
        const k8s = c.k8s[m] as K8sClient;
        last ??= await k8s.get('secrets', secretName(m), { namespace: loadNamespace });
        const body = secretManifest(m, seq);
        body.metadata = { ...body.metadata, resourceVersion: last.metadata.resourceVersion ?? '' };
        last = await k8s.update('secrets', secretName(m), body, { namespace: loadNamespace });
      });
      if (ok) this.counts.secretUpdates++;
      else last = undefined; // fetch the current object before the next update
    }
  }

  /** Reads, on member m, the key the next member's putter writes (so most reads cross members). */
  private async reader(m: number): Promise<void> {
    const target = (m + 1) % this.endpoints.length;
    while (this.running) {
      const ackedBefore = this.acked[target] ?? 0;
      const ok = await this.attempt(`read@${m}`, async (c) => {
        const kv = await (c.kv[m] as KvClient).get(kvKey(target));
        const seen = kv === undefined ? 0 : Number(text(kv.value));
        if (seen < ackedBefore) throw new Error(`stale read of ${kvKey(target)}: ${seen} after put ${ackedBefore} was acknowledged`);
      });
      if (ok) this.counts.reads++;
    }
  }
}

function secretManifest(member: number, seq: number): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secretName(member), namespace: loadNamespace },
    type: 'Opaque',
    data: { seq: Buffer.from(String(seq)).toString('base64') },
  };
}
