/**
 * The member's background jobs, the last stage of its start (member.ts): each runs on real timers until
 * the member stops, and each is one entry of `startBackgroundJobs`, so a new job is one more entry.
 *   - the audit log opens as soon as the cluster's HMAC key can be read (member-audit.ts);
 *   - key rotation resumes an unfinished re-encryption (storage/barrier);
 *   - scheduled Secret rotation (rotation-scheduler.ts) and history compaction (history-compactor.ts);
 *   - the store quota: past it, the member raises its NOSPACE alarm (quota-watch.ts);
 *   - the member publishes its URLs, and the first-start objects are created, each retried until done.
 * Not here: the lessor (src/replication/lessor.ts), whose time is the replica's Raft ticks, so it runs
 * inside the replica, on the leader only, deterministic under the simulator.
 */
import type { KvBackend } from '../api/index.ts';
import { realClock, type TimerHandle } from '../base/index.ts';
import { bootstrapRetryMs, bootstrapRetryMsMax, publishRetryMs, type ServerConfig } from '../config/index.ts';
import type { RbacObject } from '../rbac/index.ts';
import { bootstrapRegistry } from '../registry/index.ts';
import type { Replica } from '../replication/index.ts';
import type { MemberKeys } from '../storage/barrier/index.ts';
import { HistoryCompactor } from './history-compactor.ts';
import type { MemberAudit } from './member-audit.ts';
import type { Logger } from './member-log.ts';
import { startQuotaWatch } from './quota-watch.ts';
import { RotationScheduler } from './rotation-scheduler.ts';

/** What a member undoes on stop, last pushed first undone. */
export type Teardown = Array<() => Promise<void> | void>;

export interface BackgroundJobs {
  config: ServerConfig;
  replica: Replica;
  backend: KvBackend;
  audit: MemberAudit;
  keys: MemberKeys;
  firstStart: FirstStartObjects;
  log: Logger;
  /** The bytes of the pages the member's store holds (the quota's measure: MvccStore.pageBytes). */
  storeBytes: () => number;
}

/** Starts every background job; each pushes its own stop onto `teardown`. */
export function startBackgroundJobs(jobs: BackgroundJobs, teardown: Teardown): void {
  const { config, replica, backend, audit, keys, firstStart, log, storeBytes } = jobs;
  audit.start();
  keys.start();
  const rotation = new RotationScheduler({ backend, clock: realClock, audit, log });
  rotation.start();
  teardown.push(() => rotation.stop());
  const compactor = new HistoryCompactor({ backend, clock: realClock, retentionMs: config.historyRetentionMs, log });
  compactor.start();
  teardown.push(() => compactor.stop());
  teardown.push(startQuotaWatch({ replica, quotaBytes: config.quotaBackendBytes, storeBytes, clock: realClock, log }));
  publishUntilDone(replica, { peerUrl: config.advertisePeer.href, clientUrl: config.advertiseClient.href }, teardown);
  firstStart.start();
}

/** Publishes the member's URLs once a leader can take it, retrying until it is recorded or the member stops. */
function publishUntilDone(replica: Replica, urls: { peerUrl: string; clientUrl: string }, teardown: Teardown): void {
  let timer: TimerHandle | undefined;
  const attempt = () => {
    timer = undefined;
    if (!replica.isServing()) return;
    replica.publishSelf(urls).catch(() => {
      if (replica.isServing()) timer = realClock.setTimer(publishRetryMs, attempt);
    });
  };
  teardown.push(() => timer?.cancel());
  attempt();
}

/** The first-start objects' progress: /readyz waits for `done`. */
export interface FirstStartObjects {
  start(): void;
  readonly done: boolean;
  readonly lastError: string | undefined;
}

/**
 * The first-start objects (namespaces default and coffer-system, the default RBAC policies), once a
 * leader can take them; every member runs this at every start (registry's bootstrap is idempotent) and
 * is not ready until it has seen them in place (`done`).
 */
export function firstStartObjects(backend: KvBackend, policies: readonly RbacObject[], teardown: Teardown, log: Pick<Logger, 'info'>): FirstStartObjects {
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
  teardown.push(() => timer?.cancel());
  return {
    start: attempt,
    get done() { return state.done; },
    get lastError() { return state.lastError; },
  };
}
