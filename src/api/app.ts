/**
 * The client API as a fastify app, built and never listening here (the server listens; tests call
 * app.inject()). Each request's URL is parsed once, before routing (request.ts); the gate (gate.ts)
 * then identifies and authorizes that parsed request before any handler or 404 runs — default deny,
 * the KV API under /v3 too (nonResourceURL `/v3/*`, verb post) — and the audit step (audit-plugin.ts)
 * records every request, refused ones included (client-error.ts those node refuses before routing).
 * Errors on /v3 keep etcd's gateway shape; every other path answers Kubernetes `Status` objects.
 */
import fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { realClock, type Clock } from '../base/index.ts';
import { requestBodyBytesMax, requestPathBytesMax } from '../config/index.ts';
import { Registry } from '../registry/index.ts';
import { type ApiAudit, registerAuditPlugin } from './audit-plugin.ts';
import { clientErrorHandler } from './client-error.ts';
import { errorBody, grpc, toApiError } from './errors.ts';
import { isKvPath, registerGate } from './gate.ts';
import type { Identify } from './identity.ts';
import type { KvBackend } from './kv/backend.ts';
import { registerGrpcApi } from './grpc/plugin.ts';
import { grpcStatus, isGrpcRequest, recordedStatusCode, sendGrpcError, toGrpcError } from './grpc/status.ts';
import { registerKvRoutes } from './kv/routes.ts';
import { KvService } from './kv/service.ts';
import { type HealthChecks, registerHealthRoutes, replicaHealthChecks } from './health.ts';
import { registerSnapshotRoutes } from './admin/snapshot.ts';
import { applyContentType, parseApplyBody } from './k8s/apply-body.ts';
import { registerAuditRoutes } from './k8s/audit-routes.ts';
import { registerDiscoveryRoutes } from './k8s/discovery.ts';
import { registerOpenApiRoutes } from './k8s/openapi.ts';
import { PolicyHolder } from './k8s/policy-holder.ts';
import { decodeProtobufObject, protobufContentType } from './k8s/protobuf.ts';
import { registerK8sRoutes } from './k8s/routes.ts';
import { registerReviewRoutes } from './k8s/reviews.ts';
import { status, toStatus } from './k8s/status.ts';
import { metricLabels } from './metric-labels.ts';
import { parsedRequest, parseOf, querystringParser, rewriteToCanonical } from './request.ts';
import { WatchStreams } from './watch-stream.ts';

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
}

/** What the API needs from the member's metrics (src/metrics implements it). */
export interface ApiMetrics {
  request(verb: string, resource: string, code: number, seconds: number): void;
  contentType(): string;
  render(): Promise<string>;
}

/** Whether a request is on the KV API (its errors keep etcd's gateway shape): by its parsed path. */
const onKvPath = (request: FastifyRequest): boolean => {
  const parsed = parseOf(request.raw);
  return parsed.ok && isKvPath(parsed.path);
};

/** A route the client API serves: what the authorization matrix tests are generated from. */
export interface ApiRoute {
  method: string;
  url: string;
}

const routeTables = new WeakMap<FastifyInstance, ApiRoute[]>();

/** Every route of an app built by buildClientApi, in registration order. */
export function routeTable(app: FastifyInstance): readonly ApiRoute[] {
  return routeTables.get(app) ?? [];
}

export function buildClientApi(options: ClientApiOptions): FastifyInstance {
  const app = fastify({
    bodyLimit: requestBodyBytesMax,
    // The URL is parsed once, strictly, before routing; the router and the handlers see its canonical
    // form (request.ts), and request.query is that same parse. Lengths are checked there (414), so
    // the router's own parameter limit never answers first.
    rewriteUrl: (raw) => rewriteToCanonical(raw),
    routerOptions: { maxParamLength: requestPathBytesMax, querystringParser },
    // A request node refuses before routing (bad request line or header, timeout) is audited too.
    clientErrorHandler: clientErrorHandler({ audit: options.audit, identify: options.identify }),
    ...(options.server ?? {}),
  } as FastifyServerOptions) as unknown as FastifyInstance;
  const clock = options.clock ?? realClock;
  const routes: ApiRoute[] = [];
  routeTables.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  const policy = new PolicyHolder(() => options.backend.mvcc(), app.log, clock);
  const registry = new Registry(options.backend);
  const watches = new WatchStreams(clock);
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

  // As etcd's gateway: every body is JSON whatever its content type says (curl sends form encoding).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(protobufContentType, { parseAs: 'buffer' }, (request, body, done) => {
    if (onKvPath(request)) {
      done(Object.assign(new Error('request body is not valid JSON'), { code: 'FST_ERR_CTP_INVALID_JSON', statusCode: 400 }), undefined);
      return;
    }
    try {
      done(null, decodeProtobufObject(body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    // A gRPC call outside the gRPC plugin's routes (an unknown method) is answered UNIMPLEMENTED unread.
    if (isGrpcRequest(request)) {
      done(null, undefined);
      return;
    }
    // The Kubernetes paths speak JSON, and YAML for server-side apply; kubectl sends protobuf first and falls back to JSON on 415.
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (!onKvPath(request) && contentType === applyContentType) {
      try {
        done(null, parseApplyBody(text));
      } catch (error) {
        done(error as Error, undefined);
      }
      return;
    }
    if (!onKvPath(request) && contentType !== '' && contentType !== 'application/json' && !contentType.endsWith('+json')) {
      done(Object.assign(new Error('unsupported media type'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }), undefined);
      return;
    }
    if (text.trim() === '') {
      done(null, {});
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch {
      done(Object.assign(new Error('request body is not valid JSON'), { code: 'FST_ERR_CTP_INVALID_JSON', statusCode: 400 }), undefined);
    }
  });

  registerGate(app, { identify: options.identify, policy });

  app.setErrorHandler(async (error, request, reply) => {
    if (isGrpcRequest(request)) return sendGrpcError(request, reply, toGrpcError(error));
    if (onKvPath(request)) {
      const apiError = toApiError(error);
      if (apiError.status >= 500) request.log.error({ err: { code: (error as { code?: unknown }).code, name: (error as Error).name } }, 'request failed');
      await reply.code(apiError.status).send(errorBody(apiError));
      return;
    }
    const body = toStatus(error);
    if (body.code >= 500) request.log.error({ err: { code: (error as { code?: unknown }).code, name: (error as Error).name } }, 'request failed');
    await reply.code(body.code).type('application/json').send(body);
  });

  app.setNotFoundHandler(async (request, reply) => {
    if (isGrpcRequest(request)) return sendGrpcError(request, reply, { code: grpcStatus.unimplemented, message: `unknown method ${parsedRequest(request.raw).path}` });
    if (onKvPath(request)) {
      await reply.code(404).send(errorBody({ status: 404, code: grpc.notFound, message: `no route ${request.method} ${parsedRequest(request.raw).path}` }));
      return;
    }
    await reply.code(404).send(status(404, 'NotFound', 'the server could not find the requested resource'));
  });

  const metrics = options.metrics;
  if (metrics) {
    app.addHook('onResponse', async (request, reply) => {
      const { verb, resource } = metricLabels(parseOf(request.raw));
      metrics.request(verb, resource, recordedStatusCode(request, reply), reply.elapsedTime / 1000);
      return Promise.resolve();
    });
    app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType()).send(await metrics.render()));
  }

  if (options.audit) {
    registerAuditPlugin(app, options.audit);
    registerAuditRoutes(app, { audit: options.audit, backend: options.backend });
  }
  const audit = options.audit;
  // Status `errors` report the member's problems as etcd does, a broken audit log among them.
  const kv = new KvService(options.backend, () => policy.policy, () => audit?.problems() ?? []);
  registerKvRoutes(app, kv, watches);
  registerGrpcApi(app, kv, watches);
  registerHealthRoutes(app, options.health ?? replicaHealthChecks(options.backend, clock));
  registerSnapshotRoutes(app, options.backend);
  registerDiscoveryRoutes(app);
  registerOpenApiRoutes(app);
  registerK8sRoutes(app, { kv: options.backend, registry, policy, clock, watches });
  registerReviewRoutes(app, { policy });
  return app;
}
