/**
 * The lock workload of the Jepsen-style tests: clients contending for one lock through the `etcd3` npm
 * client over gRPC with etcd's lock recipe, as that client's Lock runs it (a lease, then a txn creating
 * the lock key attached to it only if it is absent; unlocking revokes the lease) but without keep-alives,
 * each client through a different member, every attempt and release recorded with its call and return
 * times for the mutex model (linearizability/mutex-model.ts).
 *
 * Recording rules: a tryLock whose txn was answered is completed; one that
 * failed before its lease was granted, or whose txn the member said it never proposed, changed nothing
 * and is left out; any other failure is indeterminate (it may have taken the lock). After every attempt
 * that may hold the lock its client revokes the lease until a revoke is answered, recorded as one
 * unlock, so a lock it may hold is never left behind. Leases outlive the run (`lockLeaseTtlSeconds`), so
 * only an unlock frees the lock — an expiry would be a release the history does not show.
 */
import { performance } from 'node:perf_hooks';
import type { Etcd3, Lease } from 'etcd3';
import type { Random } from '../../../src/base/index.ts';
import type { MutexOperation } from '../linearizability/index.ts';
import type { Cluster } from './cluster.ts';
import { delay } from './cluster.ts';
import { etcd3Client, etcd3Failure } from './register-clients.ts';

/**
 * A gRPC failure that says the call never reached Raft: no connection was made, or the member had no
 * leader to propose to (Coffer answers that only for a proposal it did not accept).
 */
function notProposed(error: unknown): boolean {
  const message = error instanceof Error ? decodeURIComponent(error.message) : '';
  return /UNAVAILABLE: (No connection established|etcdserver: no leader)/.test(message);
}

/** Longer than any run, so no lease expires under the workload. */
export const lockLeaseTtlSeconds = 600;

export interface LockWorkloadOptions {
  cluster: Cluster;
  random: Random;
  clients: number;
  /** The lock's key. */
  name: string;
  opTimeoutMs: number;
  /** Upper bound of the random time a holder keeps the lock and of the pause between attempts. */
  thinkMsMax: number;
}

export interface LockStats {
  acquired: number;
  refused: number;
  indeterminate: number;
  byError: Record<string, number>;
}

export class LockWorkload {
  readonly history: MutexOperation[] = [];
  readonly stats: LockStats = { acquired: 0, refused: 0, indeterminate: 0, byError: {} };
  private stopping = false;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly options: LockWorkloadOptions) {}

  start(): void {
    const { cluster, clients } = this.options;
    for (let c = 0; c < clients; c++) {
      const endpoints = Array.from({ length: cluster.size }, (_, k) => (c + k) % cluster.size);
      this.loops.push(this.loop(c, etcd3Client(cluster, endpoints, this.options.opTimeoutMs)));
    }
  }

  /** Stops new attempts, lets every holder unlock, and waits for the clients. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  private async loop(client: number, etcd: Etcd3): Promise<void> {
    try {
      for (let attempt = 0; !this.stopping; attempt++) {
        const holder = `c${client}.${attempt}`;
        // No keep-alives: the lease outlives the run, and a keep-alive timer left behind would keep the process up.
        const lease = etcd.lease(lockLeaseTtlSeconds, { autoKeepAlive: false });
        const outcome = await this.tryLock(client, holder, etcd, lease);
        if (outcome === 'acquired') await this.think();
        await this.unlock(client, holder, lease, outcome === 'acquired' || outcome === 'unknown');
        await this.think();
      }
    } finally {
      etcd.close();
    }
  }

  /** etcd's lock recipe, as the etcd3 client's Lock does it: the key is created, attached to the lease, only if absent. */
  private async tryLock(clientId: number, holder: string, etcd: Etcd3, lease: Lease): Promise<'acquired' | 'refused' | 'no effect' | 'unknown'> {
    const call = performance.now();
    const done = (acquired: boolean | undefined) => this.history.push({
      clientId, input: { kind: 'tryLock', holder }, call,
      ...(acquired === undefined ? { output: undefined, return: Infinity } : { output: { kind: 'tryLock', acquired }, return: performance.now() }),
    });
    let granted = false;
    try {
      const id = await lease.grant();
      granted = true;
      const { succeeded } = await etcd.if(this.options.name, 'Create', '==', 0).then(etcd.put(this.options.name).value('').lease(id)).commit();
      done(succeeded);
      if (succeeded) this.stats.acquired++;
      else this.stats.refused++;
      return succeeded ? 'acquired' : 'refused';
    } catch (error) {
      this.count(error);
      // Known to have changed nothing (no lease to attach, or the txn never proposed): left out, as it observed nothing.
      if (!granted || notProposed(error)) return 'no effect';
      done(undefined);
      this.stats.indeterminate++;
      return 'unknown';
    }
  }

  /**
   * Revokes the attempt's lease until a revoke is answered. Recorded (when the attempt may have held the
   * lock) as one unlock from the first revoke's call to the answered one's return: an unanswered revoke
   * takes effect within that span or never, since revoking again is a no-op.
   */
  private async unlock(clientId: number, holder: string, lease: Lease, recorded: boolean): Promise<void> {
    const call = performance.now();
    for (;;) {
      try {
        await lease.revoke();
        break;
      } catch (error) {
        this.count(error);
        await this.think();
      }
    }
    if (recorded) this.history.push({ clientId, input: { kind: 'unlock', holder }, output: { kind: 'unlock' }, call, return: performance.now() });
  }

  private count(error: unknown): void {
    const { code } = etcd3Failure(error, true);
    this.stats.byError[code] = (this.stats.byError[code] ?? 0) + 1;
  }

  private think(): Promise<void> {
    return delay(this.options.random.int(0, this.options.thinkMsMax));
  }
}
