/**
 * Audited client APIs over a REAL in-process cluster (real WALs, stores, keyrings) with the default
 * policies: each member gets its own MemberAudit (sealed key file, the cluster's HMAC key from the
 * store, checkpoints replicated) and its own app, driven through app.inject().
 *
 * Seams: identity comes from headers (`x-user`, `x-groups`; none = no verified certificate), and a
 * member asks another member through that member's app.inject() as `system:member:<name>` instead of
 * HTTPS — the same path and RBAC check, without sockets. Every member has a backup recipient, so etcd's
 * Snapshot is served (sealed to a key no member holds: the test drops its secret half).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildClientApi, type ApiAudit, type KvBackend, withOneEventPerRequest } from '../../../src/api/index.ts';
import { listAuditFiles, readLines } from '../../../src/audit/files.ts';
import { type AuditEvent, loadAuditPolicy, queryAuditLog } from '../../../src/audit/index.ts';
import type { Clock } from '../../../src/base/index.ts';
import { auditQueryLimitMax } from '../../../src/config/index.ts';
import { createKeyFile, keyFileKek, openKeyring, type Keyring, sodiumReady } from '../../../src/crypto/index.ts';
import { loadPolicies } from '../../../src/rbac/index.ts';
import { bootstrapRegistry } from '../../../src/registry/index.ts';
import { MemberAudit, type MemberAuditOptions } from '../../../src/server/member-audit.ts';
import { policiesDir } from '../k8s/harness.ts';
import { backendOf, InProcessCluster } from '../replication/harness.ts';

export { auditQueryLimitMax };

export interface AuditedMember {
  name: string;
  app: FastifyInstance;
  audit: MemberAudit;
  backend: KvBackend;
  dataDir: string;
  /** Every event in this member's log, newest first (one per request: its latest stage). */
  events(): Promise<AuditEvent[]>;
  /**
   * Every record in this member's audit files, oldest first, each stage and chain record as written
   * (what it took is flushed first): what an attacker reading the shipped files would see.
   */
  records(): Promise<AuditRecordLine[]>;
  /** The same, without waiting for records the log took but has not written yet. */
  recordsWritten(): Promise<AuditRecordLine[]>;
  /** Rebuilds the member's audit (as a restart would), e.g. after its files were edited. */
  reopen(): Promise<void>;
}

/** One line of an audit file, parsed. */
export interface AuditRecordLine {
  kind: string;
  seq: number;
  auditID?: string;
  stage?: string;
  entry?: number;
  entries?: { first: number; last: number };
}

export interface AuditedCluster {
  cluster: InProcessCluster;
  members: AuditedMember[];
  close(): Promise<void>;
}


/**
 * `wrap` is a seam for tests of the API's side: it may refuse records the real log would take.
 * `observe` receives what the member's audit logs and counts. `wrapBackend` sees (and may hold) what the
 * API asks of the member's replica.
 */
export async function startAudited(
  size = 1, logOptions: MemberAuditOptions['logOptions'] = {}, wrap: (audit: ApiAudit) => ApiAudit = (audit) => audit, apiClock?: Clock,
  observe: Pick<MemberAuditOptions, 'log' | 'metrics'> = {}, wrapBackend: (backend: KvBackend) => KvBackend = (backend) => backend,
): Promise<AuditedCluster> {
  const cluster = await InProcessCluster.start(size);
  await cluster.leader();
  const policy = withOneEventPerRequest(await loadAuditPolicy(join(policiesDir, 'audit.yaml')));
  await bootstrapRegistry(backendOf(cluster.replica(1)), (await loadPolicies(policiesDir)).rbac);
  const keyrings: Keyring[] = [];
  const members: AuditedMember[] = [];
  const byName = new Map<string, AuditedMember>();
  for (let id = 1; id <= size; id++) {
    const name = `m${id}`;
    const backend = backendOf(cluster.replica(id));
    const dataDir = join(cluster.dir, name);
    // The audit key file is sealed by a keyring of its own here (the replica's keyring is the harness's).
    const keyDir = join(cluster.dir, `${name}-audit-keys`);
    await mkdir(keyDir, { recursive: true });
    const keyFile = join(keyDir, 'kek');
    await createKeyFile(keyFile);
    const keyring = await openKeyring({ dir: keyDir, kek: await keyFileKek(keyFile) });
    keyrings.push(keyring);
    const backupRecipient = (await sodiumReady()).crypto_box_keypair().publicKey;
    const snapshotScratch = join(dataDir, 'snapshot-out');
    await mkdir(snapshotScratch, { recursive: true });
    const build = async () => {
      const audit = await MemberAudit.create({
        dataDir, member: name, sealer: keyring, backend, policy, logOptions, ...observe,
        tlsClientOptions: () => ({}), appliedRecords: cluster.replica(id),
      });
      // The transport seam: ask another member's app, as this member.
      const viaInject: ApiAudit = {
        member: audit.member,
        record: (input) => audit.record(input),
        shape: (input) => audit.shape(input),
        queryLocal: (query) => audit.queryLocal(query),
        verifyLocal: () => audit.verifyLocal(),
        problems: () => audit.problems(),
        askMember: async (peer, path) => {
          const target = byName.get(peer.name);
          if (target === undefined) throw new Error(`${peer.name} is not running`);
          const response = await target.app.inject({ method: 'GET', url: path, headers: { 'x-user': `system:member:${name}`, 'x-groups': 'system:members' } });
          if (response.statusCode !== 200) throw new Error(`${peer.name} answered ${response.statusCode}`);
          return response.json();
        },
      };
      const app = buildClientApi({
        backend: wrapBackend(backend), audit: wrap(viaInject), identify: identifyByHeaders, ...(apiClock ? { clock: apiClock } : {}),
        grpcSnapshot: { recipient: backupRecipient, scratchDir: snapshotScratch },
      });
      await app.ready();
      audit.start();
      await audit.opened();
      return { audit, app };
    };
    const built = await build();
    const member: AuditedMember = {
      name, backend, dataDir, ...built,
      events: async () => {
        await member.audit.flushed();
        return (await queryAuditLog(join(dataDir, 'audit'), { limit: auditQueryLimitMax })).events;
      },
      records: async () => {
        await member.audit.flushed();
        return member.recordsWritten();
      },
      recordsWritten: async () => {
        const out: AuditRecordLine[] = [];
        for (const file of await listAuditFiles(join(dataDir, 'audit'))) {
          for (const line of (await readLines(file.path)).lines) out.push(JSON.parse(line) as AuditRecordLine);
        }
        return out;
      },
      reopen: async () => {
        await member.app.close();
        await member.audit.stop();
        Object.assign(member, await build());
      },
    };
    members.push(member);
    byName.set(name, member);
  }
  return {
    cluster, members,
    close: async () => {
      for (const m of members) {
        await m.app.close();
        await m.audit.stop();
      }
      for (const k of keyrings) await k.close();
      await cluster.close();
    },
  };
}

function identifyByHeaders(request: { headers: Record<string, string | string[] | undefined> }) {
  const user = request.headers['x-user'];
  if (typeof user !== 'string') return undefined;
  const groups = request.headers['x-groups'];
  return { user, groups: typeof groups === 'string' && groups !== '' ? groups.split(',') : [], kind: user.startsWith('system:member:') ? 'member' as const : 'client' as const };
}

export const admin = { 'x-user': 'admin', 'x-groups': 'system:masters' };
