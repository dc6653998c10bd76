/**
 * After healing: every member must hold the same store. Waits until every member reports the same
 * revision (nothing writes any more), then compares, at that revision, each member's digest of the
 * keys under a prefix — read serializably, i.e. from that member's own store — and, on Coffer, each
 * member's hashkv. (etcd 3.4's JSON gateway has no HashKV — /v3/maintenance/hash is the whole-db
 * Hash — so on etcd the digest alone is compared.)
 */
import { createHash } from 'node:crypto';
import { isClientError } from '../../../src/client/index.ts';
import type { Cluster } from './cluster.ts';
import { waitUntil } from '../wait.ts';

export interface Convergence {
  revision: number;
  /** Per member: sha256 over (key, value, create, mod, version) of every key under the prefix. */
  digests: string[];
  /** Per member hashkv at `revision` (Coffer only). */
  hashes?: string[];
}

export async function waitConverged(cluster: Cluster, prefix: string, timeoutMs = 60_000): Promise<Convergence> {
  const members = [...Array(cluster.size).keys()];
  const clients = members.map((i) => cluster.client(i, { requestTimeoutMs: 5_000 }));
  let last = '';
  return waitUntil(async (): Promise<Convergence | undefined> => {
    try {
      const revisions = await Promise.all(clients.map(async (c) => (await c.status()).header.revision));
      last = `revisions ${revisions.join(',')}`;
      if (!revisions.every((r) => r === revisions[0])) return undefined;
      const revision = revisions[0] as number;
      const digests = await Promise.all(clients.map((c) => digest(c, prefix, revision)));
      const hashes = cluster.backend.name === 'coffer' ? await Promise.all(clients.map(async (c) => (await c.hashKv(revision)).hash)) : undefined;
      return { revision, digests, ...(hashes ? { hashes } : {}) };
    } catch (error) {
      if (!isClientError(error)) throw error;
      last = error.message;
      return undefined;
    }
  }, timeoutMs, 'members reach the same revision', { detail: () => last, pollMs: 100 });
}

async function digest(client: ReturnType<Cluster['client']>, prefix: string, revision: number): Promise<string> {
  const result = await client.range(prefix, { prefix: true, serializable: true, revision });
  const hash = createHash('sha256');
  for (const kv of result.kvs) {
    hash.update(JSON.stringify([Buffer.from(kv.key).toString('base64'), Buffer.from(kv.value).toString('base64'), kv.createRevision, kv.modRevision, kv.version]));
  }
  return hash.digest('hex');
}
