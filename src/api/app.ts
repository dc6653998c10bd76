/**
 * The client API as a fastify app, built and never listening here (the server listens; tests call
 * app.inject()). Every request is identified first; a request without an identity is refused, and
 * until RBAC covers it the KV API is for administrators and members only.
 */
import fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { requestBodyBytesMax } from '../config/index.ts';
import { errorBody, ForbiddenError, grpc, toApiError } from './errors.ts';
import { type Identify, mayUseKv } from './identity.ts';
import type { KvBackend } from './kv/backend.ts';
import { registerKvRoutes } from './kv/routes.ts';
import { registerHealthRoutes } from './health.ts';

export interface ClientApiOptions {
  backend: KvBackend;
  identify: Identify;
  /** fastify options: `https` for the real listener, `logger`. */
  server?: FastifyServerOptions & { https?: object };
}

export function buildClientApi(options: ClientApiOptions): FastifyInstance {
  const app = fastify({ bodyLimit: requestBodyBytesMax, ...(options.server ?? {}) } as FastifyServerOptions) as unknown as FastifyInstance;

  // As etcd's gateway: every body is JSON whatever its content type says (curl sends form encoding).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
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
      await reply.code(401).send(errorBody({ status: 401, code: grpc.unauthenticated, message: 'a verified client certificate is required' }));
      return reply;
    }
    if (request.url.startsWith('/v3/') && !mayUseKv(identity)) {
      throw new ForbiddenError(`user ${JSON.stringify(identity.user)} may not use the KV API`);
    }
    return undefined;
  });

  app.setErrorHandler(async (error, request, reply) => {
    const apiError = toApiError(error);
    if (apiError.status >= 500) request.log.error({ err: { code: (error as { code?: unknown }).code, name: (error as Error).name } }, 'request failed');
    await reply.code(apiError.status).send(errorBody(apiError));
  });

  app.setNotFoundHandler(async (request, reply) => {
    await reply.code(404).send(errorBody({ status: 404, code: grpc.notFound, message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` }));
  });

  registerKvRoutes(app, options.backend);
  registerHealthRoutes(app, options.backend);
  return app;
}
