/**
 * The client API as a fastify app, built and never listening here (the server listens; tests call
 * app.inject()). Every request is identified first, then authorized by RBAC from its method and path
 * alone (k8s/request-info.ts), before any handler or 404 runs: a request without an identity is
 * refused (401), a request no rule allows is refused (403), default deny — the KV API under /v3 too
 * (nonResourceURL `/v3/*`, verb post). Errors on /v3 keep etcd's gateway shape; every other path
 * answers Kubernetes `Status` objects.
 */
import fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { realClock, type Clock } from '../base/index.ts';
import { nameLengthMax, requestBodyBytesMax } from '../config/index.ts';
import { Registry } from '../registry/index.ts';
import { anonymousUser, type ApiAudit, noteDecision, registerAuditPlugin } from './audit-plugin.ts';
import { errorBody, ForbiddenError, grpc, toApiError } from './errors.ts';
import type { Identify } from './identity.ts';
import type { KvBackend } from './kv/backend.ts';
import { registerKvRoutes } from './kv/routes.ts';
import { registerHealthRoutes } from './health.ts';
import { registerSnapshotRoutes } from './admin/snapshot.ts';
import { registerAuditRoutes } from './k8s/audit-routes.ts';
import { callerOf, decide, forbiddenMessage, rememberCaller } from './k8s/authorization.ts';
import { registerDiscoveryRoutes } from './k8s/discovery.ts';
import { registerOpenApiRoutes } from './k8s/openapi.ts';
import { PolicyHolder } from './k8s/policy-holder.ts';
import { decodeProtobufObject, protobufContentType } from './k8s/protobuf.ts';
import { requestInfo } from './k8s/request-info.ts';
import { registerK8sRoutes } from './k8s/routes.ts';
import { K8sForbiddenError, status, toStatus } from './k8s/status.ts';

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
   * The member's audit log: every request then leaves exactly one durable event before it can change
   * anything, and the audit routes are served (audit-plugin.ts). A member always passes it; tests of
   * other concerns may leave it out.
   */
  audit?: ApiAudit;
}

/** What the API needs from the member's metrics (src/metrics implements it). */
export interface ApiMetrics {
  request(verb: string, resource: string, code: number, seconds: number): void;
  contentType(): string;
  render(): Promise<string>;
}

const isKvPath = (url: string) => url.startsWith('/v3/');

export function buildClientApi(options: ClientApiOptions): FastifyInstance {
  const app = fastify({
    bodyLimit: requestBodyBytesMax,
    // Object names may be nameLengthMax long (find-my-way's default stops at 100).
    routerOptions: { maxParamLength: nameLengthMax + 10 },
    ...(options.server ?? {}),
  } as FastifyServerOptions) as unknown as FastifyInstance;
  const clock = options.clock ?? realClock;
  const policy = new PolicyHolder(() => options.backend.mvcc(), app.log);
  const registry = new Registry(options.backend);
  app.addHook('onReady', () => policy.start());
  app.addHook('onClose', (_instance, done) => {
    policy.stop();
    done();
  });

  // As etcd's gateway: every body is JSON whatever its content type says (curl sends form encoding).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(protobufContentType, { parseAs: 'buffer' }, (request, body, done) => {
    if (isKvPath(request.url)) {
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
    // The Kubernetes paths speak JSON only; kubectl sends protobuf first and falls back to JSON on 415.
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    if (!isKvPath(request.url) && contentType !== '' && contentType !== 'application/json' && !contentType.endsWith('+json')) {
      done(Object.assign(new Error('unsupported media type'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }), undefined);
      return;
    }
    const text = typeof body === 'string' ? body : body.toString('utf8');
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

  app.addHook('onRequest', async (request, reply) => {
    const identity = options.identify(request);
    if (identity === undefined) {
      const message = 'a verified client certificate is required';
      noteDecision(request, anonymousUser, requestInfo(request.method, request.url), false, 'no verified client certificate');
      await reply.code(401).send(isKvPath(request.url) ? errorBody({ status: 401, code: grpc.unauthenticated, message }) : status(401, 'Unauthorized', message));
      return reply;
    }
    const caller = callerOf(identity);
    const info = requestInfo(request.method, request.url);
    const decision = decide(policy.policy, caller, info);
    noteDecision(request, { username: caller.user, groups: caller.groups }, info, decision.allowed, decision.reason);
    if (!decision.allowed) {
      const message = forbiddenMessage(caller, info);
      if (isKvPath(request.url)) throw new ForbiddenError(message);
      throw new K8sForbiddenError(message, info.isResource ? { ...(info.name !== '' ? { name: info.name } : {}), group: info.apiGroup, kind: info.resource } : {});
    }
    rememberCaller(request, caller);
    return undefined;
  });

  app.setErrorHandler(async (error, request, reply) => {
    if (isKvPath(request.url)) {
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
    if (isKvPath(request.url)) {
      await reply.code(404).send(errorBody({ status: 404, code: grpc.notFound, message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` }));
      return;
    }
    await reply.code(404).send(status(404, 'NotFound', 'the server could not find the requested resource'));
  });

  const metrics = options.metrics;
  if (metrics) {
    app.addHook('onResponse', async (request, reply) => {
      const info = requestInfo(request.method, request.url);
      // Labels come from the route's shape only (verb, resource kind): never a name or a key.
      const resource = info.isResource ? info.resource : isKvPath(request.url) ? 'kv' : 'nonresource';
      metrics.request(info.verb, resource, reply.statusCode, reply.elapsedTime / 1000);
      return Promise.resolve();
    });
    app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType()).send(await metrics.render()));
  }

  if (options.audit) {
    registerAuditPlugin(app, options.audit);
    registerAuditRoutes(app, { audit: options.audit, backend: options.backend });
  }
  const audit = options.audit;
  registerKvRoutes(app, options.backend, { statusErrors: () => audit?.problems() ?? [] });
  registerHealthRoutes(app, options.backend);
  registerSnapshotRoutes(app, options.backend);
  registerDiscoveryRoutes(app);
  registerOpenApiRoutes(app);
  registerK8sRoutes(app, { kv: options.backend, registry, policy, clock });
  return app;
}
