/**
 * One running member, composed in named stages (docs/architecture.md, "Composing a member"):
 *   checks that need no data dir (TLS material and that its certificate names this member, policies,
 *   free ports) → unseal (the barrier, which alone holds the keyring: storage/barrier) → open storage
 *   (the member's identity) → replica (WAL, store, Raft) → transport (peer links and listener) → APIs
 *   (audit log, key rotation, the client API, listening) → background jobs (member-jobs.ts).
 * Every stage that writes the data dir seals through the barrier handle of its area (the replica, the
 * identity, the audit signing key); nothing here holds the keyring itself.
 * Each stage is a function from what the earlier ones made to what it makes, and pushes what undoes it
 * onto the member's teardown. A first start that fails leaves the data dir as it found it (first-start.ts).
 * This file is the composition root of a member; it is the only place that listens on sockets.
 * Shutdown runs the teardown in reverse: stop the jobs, stop accepting client requests and let in-flight
 * ones finish, close the audit log, hand leadership to another voter if this member leads, stop accepting
 * peers, stop the replica (the Ready being handled
 * completes), close the peer links, WAL, store and the barrier (its keys wiped).
 * A member that cannot go on (fail-stop, removed) says so and keeps answering for a grace period before
 * it asks to exit (member-end.ts).
 */
import { randomInt, X509Certificate } from 'node:crypto';
import { access, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import { type FastifyInstance, LogController } from 'fastify';
import {
  buildClientApi, type GrpcSnapshotOptions, type HealthChecks, identifyByCertificate, type KvBackend, replicaBackend, replicaHealthChecks, withOneEventPerRequest,
} from '../api/index.ts';
import { type AuditPolicy, auditKeySealedFile, loadAuditPolicy } from '../audit/index.ts';
import { type Random, realClock, seededRandom } from '../base/index.ts';
import {
  clientConnectionsMin, handshakesPendingMax, leaderHandOffMsMax, listenBacklog, handshakesPendingPerAddressMax, peerConnectionsMax, peerConnectionsPerCertificateMax, type ServerConfig,
} from '../config/index.ts';
import { type MemberState, MemberMetrics } from '../metrics/index.ts';
import { closeUnverifiedClients, TlsReloader } from '../pki/index.ts';
import { loadPolicies, type RbacObject } from '../rbac/index.ts';
import { type MemberInfo, Replica } from '../replication/index.ts';
import { backupSigner, readBackupRecipient } from '../storage/backup/index.ts';
import { type Barrier, type MemberKeys, sealedAreas } from '../storage/barrier/index.ts';
import { MemberAudit } from './member-audit.ts';
import { MemberEnd } from './member-end.ts';
import { clientListenerOptions } from './client-listener.ts';
import { type ConnectionLimits, guardConnections } from './connection-guard.ts';
import { closeDataDir } from './data-dir.ts';
import { recordFirstStart } from './first-start.ts';
import { type FirstStartObjects, firstStartObjects, startBackgroundJobs, type Teardown } from './member-jobs.ts';
import { identitySealedFile, loadOrCreateIdentity, type MemberIdentity } from './member-identity.ts';
import { MemberLog } from './member-log.ts';
import { clientConnectionsCap, clientConnectionsPerCertificate, memberFilesReserve, readOpenFilesLimit } from './open-files.ts';
import { PeerMesh } from './peer-mesh.ts';
import { refusalLog } from './sampled-log.ts';
import { packageRoot } from './package-root.ts';
import { checkCertificateNamesMember, checkListenable } from './preflight.ts';
import { unseal } from './unseal.ts';

export interface RunningMember {
  identity: MemberIdentity;
  app: FastifyInstance;
  stop(): Promise<void>;
  /** Resolves with the exit code once the member cannot go on and its grace period is over (member-end.ts). */
  exit: Promise<number>;
  /** Reloads the TLS material now (SIGHUP); a set that fails to load is logged and the old one kept. */
  reloadTls(): Promise<void>;
}

export async function startMember(config: ServerConfig, env: Readonly<Record<string, string | undefined>>): Promise<RunningMember> {
  // Everything that can be checked without the data dir is checked before it is touched.
  const dataDir = await recordFirstStart(config.dataDir);
  const tls = await TlsReloader.open({ cert: config.cert, key: config.key, ca: config.cacert, ...(config.crl ? { crl: config.crl } : {}) });
  const teardown: Teardown = [() => tls.close()];
  try {
    checkCertificateNamesMember(tls.material, config.name);
    // Read before anything starts: a broken policy file stops the member with a clear error.
    const policies = (await loadPolicies(config.policies ?? defaultPoliciesDir)).rbac;
    const auditPolicy = await loadMemberAuditPolicy(config.policies);
    await checkListenable(config);
    // Creates the data dir when missing, so it comes after the checks: a refused start writes nothing.
    const closedPaths = await closeDataDir(config.dataDir);
    const barrier = await unseal(config.dataDir, config.unseal, env);
    teardown.push(() => barrier.close());
    const member = await compose(config, { barrier, tls, policies, auditPolicy }, teardown);
    if (closedPaths > 0) member.app.log.warn({ paths: closedPaths, dataDir: config.dataDir }, 'data dir paths open to group or others were made owner-only');
    return member;
  } catch (error) {
    for (const undo of teardown.reverse()) await undo();
    await dataDir.undo();
    throw error;
  }
}

/** The default policies shipped with Coffer, used when --policies is not given. */
const defaultPoliciesDir = join(packageRoot(), 'policies');
/** The log levels at which the client listener writes a line per request (received, completed). */
const requestLogLevels: ReadonlySet<string> = new Set(['debug', 'trace']);

/** What startMember checked and opened (the unseal stage among it) before composing the member. */
interface Prepared {
  /** The only way to the disk in the clear: every sealed area's owner seals with its handle. */
  barrier: Barrier;
  tls: TlsReloader;
  policies: readonly RbacObject[];
  auditPolicy: AuditPolicy;
}

/** What runs alongside every stage: the member's log, its end (fail-stop, removal) and its metrics' counters. */
interface Observers {
  log: MemberLog;
  end: MemberEnd;
  metrics: MemberMetrics;
}

async function compose(config: ServerConfig, prepared: Prepared, teardown: Teardown): Promise<RunningMember> {
  const { barrier, tls } = prepared;
  const observers = observe(config, tls, teardown);
  const { identity, created } = await openStorage(config, barrier);
  const random = seededRandom(randomInt(2 ** 31));
  const peers = new PeerMesh({
    config, identity, tls, random, log: observers.log, guard: (server) => guardListener(server, 'peer', { connectionsMax: peerConnectionsMax, connectionsPerCertificateMax: peerConnectionsPerCertificateMax }, observers.metrics),
  });
  teardown.push(() => peers.closeLinks());
  const replica = await startReplica(config, { barrier, identity, peers, random }, observers, teardown);
  await startTransport({ tls, peers, replica, log: observers.log }, teardown);
  const apis = await startApis(config, { ...prepared, identity, replica }, observers, teardown);
  // After the APIs stage: the member's log drops lines until then (member-log.ts).
  if (!created) warnIfInitialClusterIgnored(config, replica, observers.log);
  startBackgroundJobs({ config, replica, ...apis, log: observers.log, storeBytes: () => replica.mvcc().pageBytes() }, teardown);
  return {
    identity,
    app: apis.app,
    exit: observers.end.exit,
    reloadTls: () => tls.reload().then(() => undefined, () => undefined), // failures: 'reloadFailed' logs them
    stop: async () => {
      for (const undo of teardown.splice(0).reverse()) await undo();
    },
  };
}

/** The log, the member's end and its metrics exist before any stage, which report through them; TLS reloads are logged. */
function observe(config: ServerConfig, tls: TlsReloader, teardown: Teardown): Observers {
  const log = new MemberLog();
  tls.watch();
  tls.on('reloadFailed', (error) => log.warn({ reason: error.message }, 'TLS material reload failed; keeping the previous certificates'));
  tls.on('reloaded', (material) => log.info({ serial: material.serial }, 'TLS material reloaded'));
  tls.on('connectionsClosed', (count) => log.info({ count }, 'closed connections whose certificate is revoked or expired'));
  const end = new MemberEnd({ member: config.name, exitGraceMs: config.exitGraceMs, stayWhenRemoved: config.stayWhenRemoved, log });
  teardown.push(() => end.close());
  return { log, end, metrics: new MemberMetrics() };
}

/** Open storage: the member's identity (sealed in the data dir); the replica opens the WAL and the store. */
async function openStorage(config: ServerConfig, barrier: Barrier): Promise<{ identity: MemberIdentity; created: boolean }> {
  return loadOrCreateIdentity(config, barrier.handle(sealedAreas.identity));
}

/**
 * `--initial-cluster` only starts a new cluster: a data dir keeps the cluster of its first start. Said
 * once at start when the flag names other members than that cluster has — a data dir left by a cluster
 * of other members (which then runs beside the one the flag describes), or flags not updated after a
 * membership change.
 */
function warnIfInitialClusterIgnored(config: ServerConfig, replica: Replica, log: MemberLog): void {
  if (config.join) return;
  const named = config.initialCluster.map((m) => m.name).sort();
  const members = replica.memberList().filter((m) => !m.removed).map((m) => m.name || `(unnamed ${m.id})`).sort();
  // A member stopped before it applied its first entries lists no one yet.
  if (members.length === 0 || named.join(',') === members.join(',')) return;
  log.warn({ member: config.name, initialCluster: named, members },
    '--initial-cluster names other members than this data dir\'s cluster has; it only starts a new cluster and is ignored here (the data dir keeps the cluster of its first start)');
}

/** The replica: WAL, store and Raft, sending through the peer mesh, its membership kept in the mesh and the member's end. */
async function startReplica(
  config: ServerConfig, parts: { barrier: Barrier; identity: MemberIdentity; peers: PeerMesh; random: Random }, observers: Observers, teardown: Teardown,
): Promise<Replica> {
  const { barrier, identity, peers, random } = parts;
  const { metrics, end, log } = observers;
  const initialMembers: MemberInfo[] | undefined = config.join ? undefined : config.initialCluster.map((m, i) => ({
    // Identical on every initial member (their first log entries must match): names only, no URLs.
    id: i + 1, name: m.name, peerUrl: '', clientUrl: '', learner: false, removed: false,
  }));
  const replica = await Replica.open({
    observer: {
      leaderChanged: (leader) => {
        metrics.leaderChanged();
        // Leadership in the member's log (docs/operations.md); one before the log is attached is in 'member started'.
        log.info({ member: config.name, leader }, leader === 0 ? 'no leader' : leader === identity.memberId ? 'this member is the leader' : 'leader changed');
      },
      proposal: (outcome) => metrics.proposal(outcome),
      walFsync: (seconds) => metrics.walFsyncSeconds(seconds),
      storeCommit: (seconds) => metrics.backendCommitSeconds(seconds),
    },
    dataDir: config.dataDir,
    // The member's audit log takes the records of applied entries once it opens (member-audit.ts).
    awaitsAuditLog: true,
    memberId: identity.memberId,
    memberName: config.name,
    sealer: barrier.handle(sealedAreas.replica),
    clock: realClock,
    random,
    tickMs: config.tickMs,
    compaction: { everyEntries: config.snapshotCount, catchUpEntries: config.snapshotCatchUpEntries },
    send: (message) => peers.send(message),
    ...(initialMembers ? { initialMembers } : {}),
    onMembersChanged: (members) => peers.sync(members),
    onRemoved: () => end.removedFromCluster(),
    onFatal: (error) => end.replicaStopped(error),
  });
  teardown.push(() => replica.close());
  peers.connect(replica, initialMembers ?? []);
  return replica;
}

/** Transport: the peer listener, and a new certificate of this member reaching every link at once. */
async function startTransport(parts: { tls: TlsReloader; peers: PeerMesh; replica: Replica; log: MemberLog }, teardown: Teardown): Promise<void> {
  const { tls, peers, replica, log } = parts;
  await peers.listen(replica);
  teardown.push(() => peers.stopListening());
  // Run before the listener and the links close, once the client API has stopped taking requests.
  teardown.push(async () => {
    const to = await replica.handOffLeadership(leaderHandOffMsMax);
    if (to !== undefined) log.info({ leader: to }, 'leadership handed over before stopping');
  });
  // A new certificate of this member reaches its peer links now, both ways and without losing a
  // message, so revoking the old one later closes no link (docs/security.md, "Revocation").
  let serial = tls.material.serial;
  tls.on('reloaded', (material) => {
    if (material.serial === serial) return;
    serial = material.serial;
    peers.refresh();
  });
}

/** What the APIs stage makes: the client API, listening, and what the background jobs drive. */
interface Apis {
  app: FastifyInstance;
  backend: KvBackend;
  audit: MemberAudit;
  keys: MemberKeys;
  firstStart: FirstStartObjects;
}

/** APIs: the member's audit log and key rotation, the client API over the replica, listening on --listen-client-urls. */
async function startApis(
  config: ServerConfig, parts: Prepared & { identity: MemberIdentity; replica: Replica }, observers: Observers, teardown: Teardown,
): Promise<Apis> {
  const { barrier, tls, policies, auditPolicy, identity, replica } = parts;
  const { log, end, metrics } = observers;
  const backend: KvBackend = {
    ...replicaBackend(replica, { clusterId: identity.clusterId, dbSizeBytes: () => directoryBytes(config.dataDir) }),
    keysAndCertificate: () => ({
      kekSource: barrier.status().kekSource,
      activeDekId: barrier.status().activeDekId,
      certificateNotAfter: tls.material.notAfter.toISOString(),
    }),
    problems: () => [end.failStop()].filter((p): p is string => p !== undefined),
  };
  // Every request leaves one durable audit event before it can change anything (fail closed; a write's
  // travels in its Raft entry, and every member's log takes it as it applies); the log opens once the
  // cluster's audit HMAC key can be read (a background job).
  const audit = await MemberAudit.create({
    dataDir: config.dataDir, member: config.name, sealer: barrier.handle(sealedAreas.auditKey), backend, policy: auditPolicy,
    tlsClientOptions: (expectedMember) => tls.clientOptions({ expectedMember }), metrics, log,
    logOptions: { retention: config.auditRetention }, appliedRecords: replica,
  });
  teardown.push(() => audit.stop());
  const firstStart = firstStartObjects(backend, policies, teardown, log);
  const grpcSnapshot = config.backupRecipient === undefined ? undefined : await snapshotScratch(config.dataDir, await readBackupRecipient(config.backupRecipient), tls);
  const keys = barrier.rotation({
    member: config.name, store: () => replica.mvcc(), storeArriving: () => replica.installingSnapshot(), resealWal: () => replica.resealWal(), clock: realClock, log,
    sealedFiles: [
      identitySealedFile(config.dataDir, identity, barrier.handle(sealedAreas.identity)),
      auditKeySealedFile(config.dataDir, barrier.handle(sealedAreas.auditKey), config.name),
    ],
  });
  teardown.push(() => keys.close());
  metrics.readStateFrom(() => memberState({ replica, barrier, tls, audit, end }));
  const app = buildClientApi({
    backend,
    identify: identifyByCertificate(tls),
    metrics,
    audit,
    keys,
    health: memberHealth(backend, {
      failStop: () => end.failStop(),
      removed: () => end.removal(),
      firstStart: () => (firstStart.done ? undefined : `the first-start objects (namespaces default and coffer-system, the default policies) are not in place yet${
        firstStart.lastError !== undefined ? `: ${firstStart.lastError}` : ''}`),
      audit: () => audit.refusal(),
    }),
    // Unverified certificates are closed by closeUnverifiedClients below, which can log whose they were.
    // A line per request only at debug or trace: the audit log is the record of every request, and two
    // synchronous log writes per request were a twentieth of a busy member's time (docs/performance.md).
    server: {
      logger: { level: config.logLevel },
      logController: new LogController({ disableRequestLogging: !requestLogLevels.has(config.logLevel) }),
      ...clientListenerOptions({ ...tls.serverOptions(), rejectUnauthorized: false }),
    },
    ...(grpcSnapshot !== undefined ? { grpcSnapshot } : {}),
  });
  log.attach(app.log);
  const certificateRefusals = refusalLog(log, 'client certificate refused');
  closeUnverifiedClients(app.server as unknown as TlsServer, (refused) => {
    metrics.connectionRefused('client', 'certificate');
    certificateRefusals.line(refused);
  });
  // Nothing else would say it: `coffer ca revoke` tells the operator members pick the CRL up, and this one never will.
  if (config.crl === undefined) log.warn({}, 'started without --crl: certificates revoked with coffer ca revoke are accepted; give it the CA\'s crl.pem, which it reloads as it changes');
  const openFiles = readOpenFilesLimit();
  if (openFiles !== undefined && openFiles < memberFilesReserve + clientConnectionsMin) {
    log.warn({ openFiles, wanted: memberFilesReserve + clientConnectionsMin },
      'the open-file limit leaves too few file descriptors for the member\'s files, its peers and clientConnectionsMin connections: raise it (ulimit -n, systemd\'s LimitNOFILE)');
  }
  const clientConnections = clientConnectionsCap(openFiles);
  guardListener(app.server as unknown as TlsServer, 'client', {
    connectionsMax: clientConnections, connectionsPerCertificateMax: clientConnectionsPerCertificate(clientConnections),
  }, metrics);
  teardown.push(() => app.close());
  // Attached before it listens, so that every connection it accepts is guarded (docs/security.md, "Revocation").
  tls.attach(app.server as unknown as TlsServer);
  await app.listen({ host: config.listenClient.hostname, port: Number(config.listenClient.port), backlog: listenBacklog });
  // How the store rebuilt its key index: from the checkpoint of a clean stop, or by opening every page, and why.
  log.info({
    member: config.name, id: identity.memberId, cluster: identity.clusterId, leader: replica.status().leader, keyIndex: replica.mvcc().openedFrom(),
    clientConnectionsMax: clientConnections,
  }, 'member started');
  // A member removed while it was down learns it from its own store at start.
  if (replica.status().removed) end.removedFromCluster();
  return { app, backend, audit, keys, firstStart };
}

/**
 * Bounds what connections may hold of a listener (docs/security.md, "Connections"): at most
 * `connectionsMax`, and of one certificate `connectionsPerCertificateMax`, and few unfinished handshakes;
 * what it closes is counted in the metrics.
 */
function guardListener(
  server: TlsServer, listener: 'client' | 'peer', held: Pick<ConnectionLimits, 'connectionsMax' | 'connectionsPerCertificateMax'>, metrics: MemberMetrics,
): void {
  const limits = { ...held, handshakesMax: handshakesPendingMax, handshakesPerAddressMax: handshakesPendingPerAddressMax };
  const guarded = guardConnections(server, limits, (reason) => metrics.connectionRefused(listener, reason));
  metrics.connectionsOf(listener, guarded.open);
}

/** What the member's gauges show at scrape time. */
function memberState(parts: { replica: Replica; barrier: Barrier; tls: TlsReloader; audit: MemberAudit; end: MemberEnd }): MemberState {
  const { replica, barrier, tls, audit, end } = parts;
  const status = replica.status();
  return {
    term: status.term,
    hasLeader: status.leader !== 0,
    commitIndex: status.commitIndex,
    appliedIndex: status.appliedIndex,
    watchers: replica.mvcc().watcherCount(),
    sealed: false, // a sealed member never gets this far: it does not start
    certificateExpirySeconds: {
      member: (tls.material.notAfter.getTime() - Date.now()) / 1000,
      ca: (Date.parse(new X509Certificate(tls.material.ca).validTo) - Date.now()) / 1000,
    },
    pagesPerDek: Object.fromEntries(barrier.status().deks.map((d) => [String(d.id), d.pagesSealed])),
    auditBroken: audit.broken(),
    audit: audit.gauges(),
    failStopped: end.failStopped,
    removed: end.removed,
  };
}

/** /livez and /readyz of a member: the replica's checks, told why it stopped, and the member's own. */
function memberHealth(backend: KvBackend, why: {
  failStop: () => string | undefined;
  removed: () => string | undefined;
  firstStart: () => string | undefined;
  audit: () => string | undefined;
}): HealthChecks {
  const replica = replicaHealthChecks(backend, realClock, why.failStop);
  return {
    live: [...replica.live, { name: 'membership', check: why.removed }],
    ready: [...replica.ready, { name: 'first-start-objects', check: why.firstStart }, { name: 'audit', check: why.audit }],
  };
}

/** `<policies>/audit.yaml` when the --policies dir has one, else Coffer's default audit policy. */
async function loadMemberAuditPolicy(dir: string | undefined): Promise<AuditPolicy> {
  const own = dir === undefined ? undefined : join(dir, 'audit.yaml');
  const file = own !== undefined && await access(own).then(() => true, () => false) ? own : join(defaultPoliciesDir, 'audit.yaml');
  return withOneEventPerRequest(await loadAuditPolicy(file));
}

/**
 * etcd's Snapshot writes its sealed backup under the data dir before streaming it (api/grpc/snapshot.ts);
 * what a stopped member left there is ciphertext no member can read, removed at the next start. Each
 * backup is signed with the member's certificate and key as the TLS reloader holds them at the call
 * (checked once here, so a member that could not sign does not start).
 */
async function snapshotScratch(dataDir: string, recipient: Uint8Array, tls: TlsReloader): Promise<GrpcSnapshotOptions> {
  const signer = () => backupSigner(tls.material.cert, tls.material.key);
  signer();
  const scratchDir = join(dataDir, 'snapshot-out');
  await rm(scratchDir, { recursive: true, force: true });
  await mkdir(scratchDir, { mode: 0o700 });
  return { recipient, signer, scratchDir };
}

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}
