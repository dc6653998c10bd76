/**
 * The dialects the client API answers errors in, and how an API plugin speaks its own: `speak`
 * gives a fastify plugin its error handler and its not-found handler in the dialect, and puts the
 * dialect (with the plugin's other route defaults, route-config.ts) in the config of every route it
 * registers, so a refusal by the shared steps (gate.ts, audit-plugin.ts) answers in the same dialect
 * as the route — or the not-found — the request reached. docs/architecture.md, "The client API".
 *
 * A gRPC call is known by its content type, not by its path (a client may name any method), so it is
 * answered with a gRPC status (grpc/status.ts) wherever it lands, whatever the dialect.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { assert } from '../base/index.ts';
import type { StatusDetails } from '../registry/index.ts';
import { errorBody, grpc, toApiError } from './errors.ts';
import { grpcStatus, isGrpcRequest, grpcRefusal, grpcRefusalOf, sendGrpcError, toGrpcError } from './grpc/status.ts';
import { status, toStatus } from './k8s/status.ts';
import { parsedRequest } from './request.ts';
import { type ApiRouteConfig, type Dialect, routeConfigOf } from './route-config.ts';

/** Kubernetes `Status` objects: the Kubernetes API, probes, admin. */
export const kubernetesStatus: Dialect = {
  refusal: (code, reason, message, details) => status(code, reason, message, details),
  fromError: (error) => {
    const body = toStatus(error);
    return { code: body.code, body };
  },
  notFound: () => status(404, 'NotFound', 'the server could not find the requested resource'),
};

/** etcd's JSON gateway errors `{error, code, message}` with a gRPC code: the KV API under /v3. */
export const etcdGateway: Dialect = {
  refusal: (code, _reason, message) => errorBody({ status: code, code: grpcCodeOf(code), message }),
  fromError: (error) => {
    const apiError = toApiError(error);
    return { code: apiError.status, body: errorBody(apiError) };
  },
  notFound: (method, path) => errorBody({ status: 404, code: grpc.notFound, message: `no route ${method} ${path}` }),
};

/** The gRPC code of a refusal the API gives with HTTP status `code`. */
function grpcCodeOf(code: number): number {
  switch (code) {
    case 401: return grpc.unauthenticated;
    case 403: return grpc.permissionDenied;
    case 404: return grpc.notFound;
    case 429: return grpc.resourceExhausted;
    case 503: return grpc.unavailable;
    default: return grpc.invalidArgument;
  }
}

/** The dialect of the route or not-found handler that took the request: every one is set by `speak`/`declareRoutes`. */
function dialectOf(request: FastifyRequest): Dialect {
  const dialect = routeConfigOf(request).dialect;
  assert(dialect !== undefined, `no API declared the route ${request.routeOptions.url ?? '(not found)'}`);
  return dialect;
}

/** Puts `defaults` (the plugin's dialect among them) in the config of every route `instance` registers from now on. */
export function declareRoutes(instance: FastifyInstance, defaults: ApiRouteConfig & { dialect: Dialect }): void {
  instance.addHook('onRoute', (route) => {
    route.config = { ...defaults, ...route.config };
  });
}

/**
 * Makes `instance` (an encapsulated plugin) answer in `defaults.dialect`: its routes carry the defaults,
 * its handlers' errors and the paths under its prefix that no route serves are answered in the dialect.
 */
export function speak(instance: FastifyInstance, defaults: ApiRouteConfig & { dialect: Dialect }): void {
  const { dialect } = defaults;
  declareRoutes(instance, defaults);
  instance.setErrorHandler(async (error, request, reply) => {
    if (isGrpcRequest(request)) return sendGrpcError(request, reply, toGrpcError(error));
    const { code, body } = dialect.fromError(error);
    if (code >= 500) request.log.error({ err: { code: (error as { code?: unknown }).code, name: (error as Error).name } }, 'request failed');
    await reply.code(code).type('application/json').send(body);
  });
  // fastify takes `config` here as on a route (a not-found context is built like one); its types leave it out.
  const notFoundOptions = { config: defaults } as object;
  instance.setNotFoundHandler(notFoundOptions, async (request, reply) => {
    const { path } = parsedRequest(request.raw);
    if (isGrpcRequest(request)) return sendGrpcError(request, reply, { code: grpcStatus.unimplemented, message: `unknown method ${path}` });
    await reply.code(404).type('application/json').send(dialect.notFound(request.method, path));
  });
}

/** Answers a refusal (the gate's, the audit step's) in the request's dialect. */
export async function answerRefusal(request: FastifyRequest, reply: FastifyReply, code: number, reason: string, message: string, details?: StatusDetails): Promise<void> {
  if (isGrpcRequest(request)) {
    await sendGrpcError(request, reply, grpcRefusalOf(grpcCodeOf(code), message));
    return;
  }
  await reply.code(code).type('application/json').send(dialectOf(request).refusal(code, reason, message, details));
}

/** Turns an answer being sent (an onSend hook) into a refusal in the request's dialect: the payload to send instead. */
export function refusalPayload(request: FastifyRequest, reply: FastifyReply, code: number, reason: string, message: string): string | Buffer {
  if (isGrpcRequest(request)) return grpcRefusal(request, reply, grpcRefusalOf(grpcCodeOf(code), message));
  void reply.code(code).header('content-type', 'application/json; charset=utf-8');
  return JSON.stringify(dialectOf(request).refusal(code, reason, message));
}
