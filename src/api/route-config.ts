/**
 * What an API plugin tells the shared steps of every request (gate.ts, audit-plugin.ts, the metrics
 * hook in pipeline.ts) about its routes, through each route's fastify `config`, so the shared steps
 * never read a path to find out which API a request is on: the dialect its refusals are answered in
 * (dialect.ts), whether a non-resource call only reads (audit), what only system:masters may do on it, its resource label in /metrics.
 * An API plugin sets its defaults for every route and its not-found handler at once (dialect.ts,
 * `speak`); a route adds its own on top.
 */
import type { FastifyRequest } from 'fastify';
import type { StatusDetails } from '../registry/index.ts';

/** How an API answers what goes wrong: Kubernetes `Status`, or etcd's gateway error `{error, code, message}`. */
export interface Dialect {
  /** The body of an answer the API gives itself: a refusal by the gate or the audit step. */
  refusal(code: number, reason: string, message: string, details?: StatusDetails): object;
  /** A handler's error as this API answers it (never an internal message). */
  fromError(error: unknown): { code: number; body: object };
  /** The body of a 404 for a path no route of the API serves. */
  notFound(method: string, path: string): object;
}

export interface ApiRouteConfig {
  /** The dialect of the API the route belongs to. */
  dialect?: Dialect;
  /** A non-resource call that only reads: audited once, with its response (audit-plugin.ts); absent: by its verb. */
  auditReadOnly?: boolean;
  /** The route's request bodies never reach the audit log (they carry key material). */
  auditOmitBody?: boolean;
  /**
   * What the route does that only system:masters may, whatever RBAC grants (gate.ts, step 6; etcd
   * reserves these to root): change the cluster itself (its members, leader, history, files, alarms),
   * handle the member's keys, or take a backup of every Secret. Named in the refusal.
   */
  mastersOnly?: string;
  /**
   * The route changes the store only through the backend's proposals, so the RequestReceived record of
   * a write travels in its Raft entry (audit-in-entry.ts) rather than being made durable before the
   * handler runs (audit-plugin.ts, `recordTravels`).
   */
  auditInEntry?: boolean;
  /**
   * The route streams an answer that may take as long as it needs (a snapshot of the store): not held to
   * apiAnswerTimeoutMs (unread-answers.ts). Watches are streams of their own, outside it too.
   */
  longAnswer?: boolean;
  /**
   * The route's body is a stream of messages its handler reads as they come, for as long as the call
   * lasts (a gRPC Watch or LeaseKeepAlive): handed over unread, and not charged to the caller's held
   * bytes as it arrives (unread-answers.ts), since it is never held whole.
   */
  streamedBody?: boolean;
  /** The `resource` label a non-resource route is counted under in /metrics (metric-labels.ts); `nonresource` when absent. */
  metricResource?: string;
}

/** The options of a non-resource route that only reads (audited once, with its response). */
export const readOnlyRoute: { config: ApiRouteConfig } = { config: { auditReadOnly: true } };

/** What a route that changes the cluster itself does (ApiRouteConfig.mastersOnly). */
export const clusterAdministration = 'change the cluster itself';

/** What a route that reads or rotates the member's keys does (ApiRouteConfig.mastersOnly). */
export const keyAdministration = "read or rotate the member's keys";

/** What a route that streams a snapshot of the store does (ApiRouteConfig.mastersOnly). */
export const backupOfEverySecret = 'take a snapshot of every Secret';

/**
 * What a route that hashes the whole store does (ApiRouteConfig.mastersOnly): etcd's Hash and HashKV read
 * every page, every value included, and etcd reserves them to administrators as it does Snapshot.
 */
export const wholeStoreRead = 'hash the whole store, every value included';

/** The options of a route that changes the cluster itself: for system:masters only (ApiRouteConfig.mastersOnly). */
export const clusterAdminRoute: { config: ApiRouteConfig } = { config: { mastersOnly: clusterAdministration } };

/** The options of a route whose writes' records travel in their Raft entries (ApiRouteConfig.auditInEntry). */
export const auditInEntryRoute: { config: ApiRouteConfig } = { config: { auditInEntry: true } };

/** The config of the route (or not-found handler) that took the request. */
export function routeConfigOf(request: FastifyRequest): ApiRouteConfig {
  return request.routeOptions.config as ApiRouteConfig;
}
