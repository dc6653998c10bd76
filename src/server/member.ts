/**
 * One running member: checks that need no data dir (TLS material and that its certificate names this
 * member, policies, free ports) → unseal → identity → replica → peer links and listener → client API.
 * A first start that fails leaves the data dir as it found it (first-start.ts).
 * This file is the composition root of a member; it is the only place that listens on sockets.
 * Shutdown runs in reverse: stop accepting client requests and let in-flight ones finish, close peer
 * connections, stop the replica (the Ready being handled completes), close WAL, store and keyring.
 * A member that cannot go on (fail-stop, removed) says so and keeps answering for a grace period before
 * it asks to exit (member-end.ts).
 */
import { randomInt, X509Certificate } from 'node:crypto';
import { access, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import {
  buildClientApi, type HealthChecks, identifyByCertificate, type KvBackend, replicaBackend, replicaHealthChecks, withOneEventPerRequest,
} from '../api/index.ts';
import { type AuditPolicy, loadAuditPolicy } from '../audit/index.ts';
import { realClock, seededRandom, type TimerHandle } from '../base/index.ts';
import { bootstrapRetryMs, bootstrapRetryMsMax, publishRetryMs, type ServerConfig } from '../config/index.ts';
import type { Keyring } from '../crypto/index.ts';
import { MemberMetrics } from '../metrics/index.ts';
import { acceptPeer, closeUnverifiedClients, TlsReloader } from '../pki/index.ts';
import type { Message } from '../raft/index.ts';
import { loadPolicies, type RbacObject } from '../rbac/index.ts';
import { bootstrapRegistry } from '../registry/index.ts';
import { type MemberInfo, Replica } from '../replication/index.ts';
import { PeerLink, PeerListener } from '../transport/index.ts';
import { MemberAudit } from './member-audit.ts';
import { MemberEnd } from './member-end.ts';
import { clientListenerOptions } from './client-listener.ts';
import { closeDataDir } from './data-dir.ts';
import { recordFirstStart } from './first-start.ts';
import { HistoryCompactor } from './history-compactor.ts';
import { loadOrCreateIdentity, type MemberIdentity } from './member-identity.ts';
import { MemberKeys } from './member-keys.ts';
import { packageRoot } from './package-root.ts';
import { checkCertificateNamesMember, checkListenable } from './preflight.ts';
import { RotationScheduler } from './rotation-scheduler.ts';
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
  const stack: Array<() => Promise<void> | void> = [() => tls.close()];
  try {
    checkCertificateNamesMember(tls.material, config.name);
    // Read before anything starts: a broken policy file stops the member with a clear error.
    const policies = (await loadPolicies(config.policies ?? defaultPoliciesDir)).rbac;
    const auditPolicy = await loadMemberAuditPolicy(config.policies);
    await checkListenable(config);
    // Creates the data dir when missing, so it comes after the checks: a refused start writes nothing.
    const closedPaths = await closeDataDir(config.dataDir);
    const keyring = await unseal(config.dataDir, config.unseal, env);
    stack.push(() => keyring.close());
    const member = await compose(config, { keyring, tls, policies, auditPolicy }, stack);
    if (closedPaths > 0) member.app.log.warn({ paths: closedPaths, dataDir: config.dataDir }, 'data dir paths open to group or others were made owner-only');
    return member;
  } catch (error) {
    for (const undo of stack.reverse()) await undo();
    await dataDir.undo();
    throw error;
  }
}

/** The default policies shipped with Coffer, used when --policies is not given. */
const defaultPoliciesDir = join(packageRoot(), 'policies');

/** What startMember checked and opened before composing the member. */
interface Prepared {
  keyring: Keyring;
  tls: TlsReloader;
  policies: readonly RbacObject[];
  auditPolicy: AuditPolicy;
}

async function compose(config: ServerConfig, prepared: Prepared, stack: Array<() => Promise<void> | void>): Promise<RunningMember> {
  const { keyring, tls, policies, auditPolicy } = prepared;
  const { identity } = await loadOrCreateIdentity(config, keyring);
  tls.watch();

  // The client API is built last (it needs the replica), but its logger is the member's logger.
  let app: FastifyInstance | undefined;
  const log = {
    info: (fields: object, message: string) => app?.log.info(fields, message),
    warn: (fields: object, message: string) => app?.log.warn(fields, message),
    error: (fields: object, message: string) => app?.log.error(fields, message),
    fatal: (fields: object, message: string) => {
      if (app) app.log.fatal(fields, message);
      else process.stderr.write(`${message}: ${JSON.stringify(fields)}\n`);
    },
  };
  tls.on('reloadFailed', (error) => log.warn({ reason: error.message }, 'TLS material reload failed; keeping the previous certificates'));
  tls.on('reloaded', (material) => log.info({ serial: material.serial }, 'TLS material reloaded'));
  tls.on('connectionsClosed', (count) => log.info({ count }, 'closed connections whose certificate is revoked or expired'));

  // Peers: dial by the URL this member's --initial-cluster gives for a name (it may be a proxy),
  // else by the URL the member table holds.
  const links = new Map<number, PeerLink>();
  const flagUrl = (name: string) => config.initialCluster.find((m) => m.name === name)?.peerUrl;
  const random = seededRandom(randomInt(2 ** 31));
  let replica: Replica | undefined;
  let audit: MemberAudit | undefined;
  const link = (id: number, name: string, url: string) => {
    if (id === identity.memberId || links.has(id) || url === '') return;
    links.set(id, new PeerLink({
      peer: { id, name, url },
      hello: { kind: 'hello', clusterId: identity.clusterId, member: config.name, memberId: identity.memberId },
      tlsOptions: (expectedMember) => tls.clientOptions({ expectedMember }),
      guard: (socket) => tls.guard(socket),
      clock: realClock,
      random,
      onDrop: (message: Message) => replica?.reportUnreachable(message.to, message),
    }));
  };
  const syncLinks = (members: readonly MemberInfo[]) => {
    for (const m of members) {
      if (m.removed) {
        links.get(m.id)?.close();
        links.delete(m.id);
      } else link(m.id, m.name, flagUrl(m.name) ?? m.peerUrl);
    }
  };
  stack.push(() => { for (const l of links.values()) l.close(); });

  const end = new MemberEnd({ member: config.name, exitGraceMs: config.exitGraceMs, stayWhenRemoved: config.stayWhenRemoved, log });
  stack.push(() => end.close());
  const initialMembers: MemberInfo[] | undefined = config.join ? undefined : config.initialCluster.map((m, i) => ({
    // Identical on every initial member (their first log entries must match): names only, no URLs.
    id: i + 1, name: m.name, peerUrl: '', clientUrl: '', learner: false, removed: false,
  }));
  const metrics = new MemberMetrics(() => {
    const status = replica?.status();
    const keys = keyring.status();
    return {
      term: status?.term ?? 0,
      hasLeader: (status?.leader ?? 0) !== 0,
      commitIndex: status?.commitIndex ?? 0,
      appliedIndex: status?.appliedIndex ?? 0,
      watchers: replica?.mvcc().watcherCount() ?? 0,
      sealed: false, // a sealed member never gets this far: it does not start
      certificateExpirySeconds: {
        member: (tls.material.notAfter.getTime() - Date.now()) / 1000,
        ca: (Date.parse(new X509Certificate(tls.material.ca).validTo) - Date.now()) / 1000,
      },
      pagesPerDek: Object.fromEntries(keys.deks.map((d) => [String(d.id), d.pagesSealed])),
      auditBroken: audit?.broken() ?? false,
      ...(audit !== undefined ? { audit: audit.gauges() } : {}),
      failStopped: end.failStopped,
      removed: end.removed,
    };
  });
  replica = await Replica.open({
    observer: {
      leaderChanged: () => metrics.leaderChanged(),
      proposal: (outcome) => metrics.proposal(outcome),
      walFsync: (seconds) => metrics.walFsyncSeconds(seconds),
      storeCommit: (seconds) => metrics.backendCommitSeconds(seconds),
    },
    dataDir: config.dataDir,
    memberId: identity.memberId,
    memberName: config.name,
    sealer: keyring,
    clock: realClock,
    random,
    tickMs: config.tickMs,
    compaction: { everyEntries: config.snapshotCount, catchUpEntries: config.snapshotCatchUpEntries },
    send: (message) => {
      const peer = links.get(message.to);
      if (peer) peer.send(message);
      else replica?.reportUnreachable(message.to, message);
    },
    ...(initialMembers ? { initialMembers } : {}),
    onMembersChanged: (members) => {
      syncLinks(members);
      if (members.find((m) => m.id === identity.memberId)?.removed === true) end.removedFromCluster();
    },
    onFatal: (error) => end.replicaStopped(error),
  });
  const running = replica;
  stack.push(() => running.close());
  syncLinks(initialMembers ?? []);
  syncLinks(running.memberList());

  const listener = new PeerListener({
    clusterId: identity.clusterId,
    tlsOptions: tls.serverOptions(),
    acceptPeer,
    knowsMember: (id, name) => {
      const known = running.memberList().find((m) => m.id === id);
      // Before a joining member has the table, it trusts its --initial-cluster names (the certificate
      // already proved the name).
      return known !== undefined ? known.name === name && !known.removed : flagUrl(name) !== undefined;
    },
    onPeer: (id, name) => link(id, name, flagUrl(name) ?? running.memberList().find((m) => m.id === id)?.peerUrl ?? ''),
    onMessage: (message) => running.receive(message),
    onRefused: (reason) => log.warn({ reason }, 'peer connection refused'),
    clock: realClock,
  });
  tls.attach(listener.server);
  await listener.listen(config.listenPeer.hostname, Number(config.listenPeer.port));
  stack.push(() => listener.close());
  // A new certificate of this member reaches its peer links now, both ways and without losing a
  // message, so revoking the old one later closes no link (docs/security.md, "Revocation").
  let serial = tls.material.serial;
  tls.on('reloaded', (material) => {
    if (material.serial === serial) return;
    serial = material.serial;
    for (const l of links.values()) l.refresh();
    listener.refresh();
  });

  const backend: KvBackend = {
    ...replicaBackend(running, { clusterId: identity.clusterId, dbSizeBytes: () => directoryBytes(config.dataDir) }),
    keysAndCertificate: () => ({
      kekSource: keyring.status().kekSource,
      activeDekId: keyring.status().activeDekId,
      certificateNotAfter: tls.material.notAfter.toISOString(),
    }),
    problems: () => [end.failStop()].filter((p): p is string => p !== undefined),
  };
  // Every request leaves one durable audit event before it can change anything (fail closed); the log
  // opens once the cluster's audit HMAC key can be read (audit.start() below).
  const memberAudit = await MemberAudit.create({
    dataDir: config.dataDir, member: config.name, sealer: keyring, backend, policy: auditPolicy,
    tlsClientOptions: (expectedMember) => tls.clientOptions({ expectedMember }), metrics, log,
    logOptions: { retention: config.auditRetention },
  });
  audit = memberAudit;
  stack.push(() => memberAudit.stop());
  const firstStart = bootstrapUntilDone(backend, policies, stack, log);
  const memberKeys = new MemberKeys({ member: config.name, dataDir: config.dataDir, keyring, store: () => running.mvcc(), resealWal: () => running.resealWal(), identity, clock: realClock, log });
  stack.push(() => memberKeys.close());
  app = buildClientApi({
    keys: memberKeys,
    backend,
    identify: identifyByCertificate(tls),
    metrics,
    audit: memberAudit,
    health: memberHealth(backend, {
      failStop: () => end.failStop(),
      removed: () => end.removal(),
      firstStart: () => (firstStart.done ? undefined : `the first-start objects (namespaces default and coffer-system, the default policies) are not in place yet${
        firstStart.lastError !== undefined ? `: ${firstStart.lastError}` : ''}`),
      audit: () => memberAudit.refusal(),
    }),
    // Unverified certificates are closed by closeUnverifiedClients below, which can log whose they were.
    server: { logger: { level: config.logLevel }, ...clientListenerOptions({ ...tls.serverOptions(), rejectUnauthorized: false }) },
  });
  const api = app;
  closeUnverifiedClients(app.server as unknown as TlsServer, (refused) => log.warn(refused, 'client certificate refused'));
  stack.push(() => api.close());
  memberKeys.start();
  // Attached before it listens, so that every connection it accepts is guarded (docs/security.md, "Revocation").
  tls.attach(app.server as unknown as TlsServer);
  await app.listen({ host: config.listenClient.hostname, port: Number(config.listenClient.port) });
  log.info({ member: config.name, id: identity.memberId, cluster: identity.clusterId }, 'member started');
  // A member removed while it was down learns it from its own store at start.
  if (running.status().removed) end.removedFromCluster();
  memberAudit.start();
  const rotation = new RotationScheduler({ backend, clock: realClock, audit: memberAudit, log });
  rotation.start();
  stack.push(() => rotation.stop());
  const compactor = new HistoryCompactor({ backend, clock: realClock, retentionMs: config.historyRetentionMs, log });
  compactor.start();
  stack.push(() => compactor.stop());
  publishUntilDone(running, { peerUrl: config.advertisePeer.href, clientUrl: config.advertiseClient.href }, stack);
  firstStart.start();

  return {
    identity,
    app,
    exit: end.exit,
    reloadTls: () => tls.reload().then(() => undefined, () => undefined), // failures: 'reloadFailed' logs them
    stop: async () => {
      for (const undo of stack.splice(0).reverse()) await undo();
    },
  };
}

/** Publishes the member's URLs once a leader can take it, retrying until it is recorded or the member stops. */
function publishUntilDone(replica: Replica, urls: { peerUrl: string; clientUrl: string }, stack: Array<() => Promise<void> | void>): void {
  let timer: TimerHandle | undefined;
  const attempt = () => {
    timer = undefined;
    if (!replica.isServing()) return;
    replica.publishSelf(urls).catch(() => {
      if (replica.isServing()) timer = realClock.setTimer(publishRetryMs, attempt);
    });
  };
  stack.push(() => timer?.cancel());
  attempt();
}

/**
 * The first-start objects (namespaces default and coffer-system, the default RBAC policies), once a
 * leader can take them; every member runs this at every start (registry's bootstrap is idempotent) and
 * is not ready until it has seen them in place (`done`).
 */
function bootstrapUntilDone(
  backend: KvBackend, policies: readonly RbacObject[], stack: Array<() => Promise<void> | void>,
  log: { info: (fields: object, message: string) => void },
): { start(): void; readonly done: boolean; readonly lastError: string | undefined } {
  let timer: TimerHandle | undefined;
  let delayMs = bootstrapRetryMs;
  const state = { done: false, lastError: undefined as string | undefined };
  const attempt = () => {
    timer = undefined;
    if (!backend.isServing()) return;
    bootstrapRegistry(backend, policies).then((result) => {
      state.done = true;
      state.lastError = undefined;
      if (result.createdNamespaces.length > 0 || result.loadedPolicies) log.info({ namespaces: result.createdNamespaces, policies: result.loadedPolicies }, 'first-start objects created');
    }, (error: Error) => {
      state.lastError = error.message;
      if (!backend.isServing()) return;
      timer = realClock.setTimer(delayMs, attempt);
      delayMs = Math.min(delayMs * 2, bootstrapRetryMsMax);
    });
  };
  stack.push(() => timer?.cancel());
  return {
    start: attempt,
    get done() { return state.done; },
    get lastError() { return state.lastError; },
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

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}
