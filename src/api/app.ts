/**
 * The client API as a fastify app, built and never listening here (the server listens; tests call
 * app.inject()). Each request's URL is parsed once, before routing (request.ts). Then the steps every
 * request passes (pipeline.ts: the gate, the audit step, metrics — one plugin on the root), then one of
 * the APIs, each a fastify plugin with its own body parsers, error handler and not-found handler
 * answering in its own dialect (dialect.ts):
 *   k8s/plugin.ts     the Kubernetes API, probes and /metrics, at the root: Kubernetes `Status`;
 *   kv/plugin.ts      etcd's JSON gateway under /v3: `{error, code, message}`;
 *   grpc/plugin.ts    etcd's gRPC API, `/etcdserverpb.<Service>/<Method>`: gRPC status trailers;
 *   admin/plugin.ts   the member's keys and snapshot stream under /apis/coffer.dev/v1/{keys,snapshot}.
 * Requests node refuses before routing are audited by client-error.ts. docs/architecture.md, "The client API".
 */
import fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { realClock, type Clock } from '../base/index.ts';
import { apiAnswerTimeoutMs, requestBodyBytesMax, requestPathBytesMax } from '../config/index.ts';
import { Registry } from '../registry/index.ts';
import { adminApi } from './admin/plugin.ts';
import type { KeysAdmin } from './admin/keys.ts';
import { withRequestAudit } from './audit-in-entry.ts';
import type { ApiAudit } from './audit-plugin.ts';
import { clientErrorHandler, pipelinedOverflowEvent, streamRequestTimeoutEvent, unroutedRequests } from './client-error.ts';
import { grpcApi } from './grpc/plugin.ts';
import type { GrpcSnapshotOptions } from './grpc/snapshot.ts';
import { type HealthChecks, replicaHealthChecks } from './health.ts';
import type { Identify } from './identity.ts';
import { kubernetesApi } from './k8s/plugin.ts';
import { PolicyHolder } from './k8s/policy-holder.ts';
import type { KvBackend } from './kv/backend.ts';
import { kvApi, kvPrefix } from './kv/plugin.ts';
import { KvService } from './kv/service.ts';
import { type ApiMetrics, requestPipeline } from './pipeline.ts';
import { querystringParser, rewriteToCanonical } from './request.ts';
import type { ApiRouteConfig } from './route-config.ts';
import { WatchStreams } from './watch-stream.ts';

export type { ApiMetrics } from './pipeline.ts';

export interface ClientApiOptions {
  backend: KvBackend;
  identify: Identify;
  /** fastify options: `https` for the real listener, `logger`. */
  server?: FastifyServerOptions & { https?: object };
  /** Time for watch timeouts, bookmarks and table ages; realClock by default. */
  clock?: Clock;
  /** Serves /metrics and counts every request by verb, resource and code. */
  metrics?: ApiMetrics;
  /**
   * The member's audit log: every request is then recorded under one auditID, durably before it can change
   * anything, and the audit routes are served (audit-plugin.ts). A member always passes it; tests of
   * other concerns may leave it out.
   */
  audit?: ApiAudit;
  /** /livez and /readyz checks (health.ts); the replica's own checks when absent. */
  health?: HealthChecks;
  /** The member's key rotation, served under /apis/coffer.dev/v1/keys (admin/keys.ts); not served when absent. */
  keys?: KeysAdmin;
  /** How long a client may take to take an answer sent whole: apiAnswerTimeoutMs unless a test shortens it. */
  answerTimeoutMs?: number;
  /** etcd's Snapshot over gRPC: the backup recipient it is sealed to (grpc/snapshot.ts); refused when absent. */
  grpcSnapshot?: GrpcSnapshotOptions;
}

/** A route the client API serves: what the authorization matrix tests are generated from. */
export interface ApiRoute {
  method: string;
  url: string;
  /** What only system:masters may do on the route, if anything (route-config.ts, mastersOnly). */
  mastersOnly: string | undefined;
  /** A write's audit record travels in its Raft entry (route-config.ts, auditInEntry). */
  auditInEntry: boolean;
}

const routeTables = new WeakMap<FastifyInstance, ApiRoute[]>();

/** Every route of an app built by buildClientApi, in registration order (complete once the app is ready). */
export function routeTable(app: FastifyInstance): readonly ApiRoute[] {
  return routeTables.get(app) ?? [];
}

/** The checks, and /readyz failing while the RBAC policy cannot be brought up to the store (it then authorizes with an older one). */
function withPolicyCheck(checks: HealthChecks, policy: PolicyHolder): HealthChecks {
  return { live: checks.live, ready: [...checks.ready, { name: 'rbac-policy', check: () => policy.problem() }] };
}

export function buildClientApi(options: ClientApiOptions): FastifyInstance {
  const app = fastify({
    bodyLimit: requestBodyBytesMax,
    // The URL is parsed once, strictly, before routing; the router and the handlers see its canonical
    // form (request.ts), and request.query is that same parse. Lengths are checked there (414), so
    // the router's own parameter limit never answers first.
    rewriteUrl: (raw) => rewriteToCanonical(raw, [kvPrefix]),
    routerOptions: { maxParamLength: requestPathBytesMax, querystringParser },
    // A request node refuses before routing (bad request line or header, timeout) is audited too.
    clientErrorHandler: clientErrorHandler({ audit: options.audit, identify: options.identify }),
    ...(options.server ?? {}),
  } as FastifyServerOptions) as unknown as FastifyInstance;
  // …and so is one node would answer itself without routing it (an expectation, CONNECT). (An HTTP/1.1
  // Upgrade is routed as a plain request while no 'upgrade' listener exists, and audited there.)
  const unrouted = unroutedRequests({ audit: options.audit, identify: options.identify });
  app.server.on('checkExpectation', unrouted.expectation);
  app.server.on('connect', unrouted.connect);
  app.server.on(pipelinedOverflowEvent, unrouted.pipelinedOverflow);
  app.server.on(streamRequestTimeoutEvent, unrouted.streamRequestTimeout);
  const clock = options.clock ?? realClock;
  const routes: ApiRoute[] = [];
  routeTables.set(app, routes);
  app.addHook('onRoute', (route) => {
    const config: ApiRouteConfig | undefined = route.config;
    const mastersOnly = config?.mastersOnly;
    const auditInEntry = config?.auditInEntry === true;
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, mastersOnly, auditInEntry });
  });
  const policy = new PolicyHolder(() => options.backend.mvcc(), app.log, clock);
  const watches = new WatchStreams(clock, () => policy.policy);
  policy.onChange(() => watches.recheck());
  // A stopping member ends its watch streams, so open watches cannot hold it up (clients reconnect).
  app.addHook('preClose', (done) => {
    watches.closeAll();
    done();
  });
  app.addHook('onReady', () => policy.start());
  app.addHook('onClose', (_instance, done) => {
    policy.stop();
    done();
  });

  const { audit, metrics } = options;
  // A write's audit record travels in its Raft entry (audit-in-entry.ts).
  const backend = withRequestAudit(options.backend);
  void app.register(requestPipeline, { identify: options.identify, policy, audit, metrics, answerTimeoutMs: options.answerTimeoutMs ?? apiAnswerTimeoutMs });
  void app.register(kubernetesApi, {
    backend, registry: new Registry(backend), policy, clock, watches, health: withPolicyCheck(options.health ?? replicaHealthChecks(backend, clock), policy),
    ...(audit ? { audit } : {}), ...(metrics ? { metrics } : {}),
  });
  // Status `errors` report the member's problems as etcd does, a broken audit log among them.
  const service = new KvService(backend, () => policy.policy, () => audit?.problems() ?? []);
  void app.register(kvApi, { prefix: kvPrefix, service, watches });
  void app.register(grpcApi, { service, watches, ...(options.grpcSnapshot ? { snapshot: options.grpcSnapshot } : {}) });
  void app.register(adminApi, { backend, ...(options.keys ? { keys: options.keys } : {}) });
  return app;
}
