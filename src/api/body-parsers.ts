/**
 * How the JSON-speaking APIs read request bodies, each in its own plugin's scope (the gRPC API reads
 * gRPC frames: grpc/plugin.ts). A gRPC call that reaches them (an unknown method) is passed on unread, to be
 * answered UNIMPLEMENTED by the not-found handler (dialect.ts).
 * - The Kubernetes API (and admin) speaks JSON, YAML for server-side apply, and protobuf, which kubectl
 *   sends first (it falls back to JSON on 415); any other content type is 415.
 * - The KV API reads every body as JSON whatever its content type says, as etcd's gateway does (curl
 *   sends form encoding); protobuf is not JSON.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isGrpcRequest } from './grpc/status.ts';
import { applyContentType, parseApplyBody } from './k8s/apply-body.ts';
import { decodeProtobufObject, protobufContentType } from './k8s/protobuf.ts';

type Done = (error: Error | null, body?: unknown) => void;

const notJson = (): Error => Object.assign(new Error('request body is not valid JSON'), { code: 'FST_ERR_CTP_INVALID_JSON', statusCode: 400 });

/** An empty body is `{}`; anything else must be JSON. */
function parseJson(text: string, done: Done): void {
  if (text.trim() === '') {
    done(null, {});
    return;
  }
  try {
    done(null, JSON.parse(text));
  } catch {
    done(notJson(), undefined);
  }
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
    if (contentType === applyContentType) {
      parseWith(() => parseApplyBody(textOf(body)), done);
      return;
    }
    if (contentType !== '' && contentType !== 'application/json' && !contentType.endsWith('+json')) {
      done(Object.assign(new Error('unsupported media type'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }), undefined);
      return;
    }
    parseJson(textOf(body), done);
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
    parseJson(textOf(body), done);
  });
}
