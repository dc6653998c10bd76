/**
 * How the JSON-speaking APIs read request bodies, each in its own plugin's scope (the gRPC API reads
 * gRPC frames: grpc/plugin.ts). A gRPC call that reaches them (an unknown method) is passed on unread, to be
 * answered UNIMPLEMENTED by the not-found handler (dialect.ts).
 * - The Kubernetes API (and admin) speaks JSON, YAML for server-side apply (PATCH only, as the API
 *   server: elsewhere 415 before the body is read), and protobuf, which kubectl sends first (it falls
 *   back to JSON on 415); any other content type is 415. A JSON or YAML body nested deeper than
 *   requestBodyDepthMax is refused (400), so nothing that walks a body recurses without bound.
 * - The KV API reads every body as JSON whatever its content type says, as etcd's gateway does (curl
 *   sends form encoding); protobuf is not JSON.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requestBodyDepthMax } from '../config/index.ts';
import { RegistryError } from '../registry/index.ts';
import { isGrpcRequest } from './grpc/status.ts';
import { applyContentType, parseApplyBody } from './k8s/apply-body.ts';
import { decodeProtobufObject, protobufContentType } from './k8s/protobuf.ts';

type Done = (error: Error | null, body?: unknown) => void;

const notJson = (): Error => Object.assign(new Error('request body is not valid JSON'), { code: 'FST_ERR_CTP_INVALID_JSON', statusCode: 400 });

/** An empty body is `{}`; anything else must be JSON. */
function jsonOf(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw notJson();
  }
}

/** `body`, unless its objects and arrays nest deeper than requestBodyDepthMax (walked without recursion). */
function withinDepth(body: unknown): unknown {
  const open: Array<[value: unknown, level: number]> = [[body, 1]];
  for (let next = open.pop(); next !== undefined; next = open.pop()) {
    const [value, level] = next;
    if (typeof value !== 'object' || value === null) continue;
    if (level > requestBodyDepthMax) throw new RegistryError('BadRequest', `the request body is nested deeper than ${requestBodyDepthMax} levels`);
    for (const child of Object.values(value)) open.push([child, level + 1]);
  }
  return body;
}

/** Parses in `parse`, handing its error to fastify. */
function parseWith(parse: () => unknown, done: Done): void {
  try {
    done(null, parse());
  } catch (error) {
    done(error as Error, undefined);
  }
}

const textOf = (body: string | Buffer): string => (typeof body === 'string' ? body : body.toString('utf8'));

const mediaTypeOf = (request: FastifyRequest): string => (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

export function kubernetesBodies(instance: FastifyInstance): void {
  instance.removeAllContentTypeParsers();
  instance.addContentTypeParser(protobufContentType, { parseAs: 'buffer' }, (_request, body, done) => {
    parseWith(() => decodeProtobufObject(body as Buffer), done);
  });
  instance.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    if (isGrpcRequest(request)) {
      done(null, undefined);
      return;
    }
    const contentType = mediaTypeOf(request);
    if (contentType === applyContentType && request.method === 'PATCH') {
      parseWith(() => parseApplyBody(textOf(body)), done);
      return;
    }
    // YAML on any other method is 415 here, unread.
    if (contentType !== '' && contentType !== 'application/json' && !contentType.endsWith('+json')) {
      done(Object.assign(new Error('unsupported media type'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }), undefined);
      return;
    }
    parseWith(() => withinDepth(jsonOf(textOf(body))), done);
  });
}

export function kvBodies(instance: FastifyInstance): void {
  instance.removeAllContentTypeParsers();
  instance.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    if (isGrpcRequest(request)) {
      done(null, undefined);
      return;
    }
    if (mediaTypeOf(request) === protobufContentType) {
      done(notJson(), undefined);
      return;
    }
    parseWith(() => jsonOf(textOf(body)), done);
  });
}
