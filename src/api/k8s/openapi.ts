/**
 * The OpenAPI documents of the kinds Coffer serves: v3 per group-version (what kubectl 1.32 reads for
 * `kubectl explain` and before `apply` with validation on) and one v2 document, as JSON or, when the
 * Accept header names it, as gnostic's protobuf (openapi-v2-protobuf.ts; kubectl asks for v2 in protobuf
 * only). kubectl asks the server whether it validates fields itself (a `fieldValidation` query parameter
 * on the POST/PUT/PATCH operations of the kind's group-version); Coffer does (registry validation, and
 * unknown fields refused with fieldValidation=Strict — strict.ts), so kubectl skips client-side schema
 * validation. A `kind: List` document has no such operation: kubectl validates each of its items on the
 * client against the v2 document, finding the kind's definition by its x-kubernetes-group-version-kind
 * (and `kubectl explain --output=plaintext-openapiv2` reads v2 too). The schemas and their descriptions
 * are in openapi-schemas.ts.
 */
import type { FastifyInstance } from 'fastify';
import { resourceTypes, type ResourceType } from '../../registry/index.ts';
import { encodeSwaggerProtobuf } from './openapi-v2-protobuf.ts';
import { kindSchemaName, schemasFor, type SchemaRefs, v2Refs, v3Refs } from './openapi-schemas.ts';
import { status } from './status.ts';

type Doc = Record<string, unknown>;

const groupVersions: readonly { group: string; path: string }[] = [
  { group: '', path: 'api/v1' },
  { group: 'rbac.authorization.k8s.io', path: 'apis/rbac.authorization.k8s.io/v1' },
];

const info = { title: 'Coffer', version: 'v1' };

/** How each OpenAPI version writes a query parameter and a response of one kind. */
interface Dialect {
  refs: SchemaRefs;
  parameter(name: string): Doc;
  response(type: ResourceType): Doc;
}

const v3: Dialect = {
  refs: v3Refs,
  parameter: (name) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } }),
  response: (type) => ({ description: 'OK', content: { 'application/json': { schema: { $ref: `${v3Refs.prefix}${kindSchemaName(type)}` } } } }),
};

const v2: Dialect = {
  refs: v2Refs,
  parameter: (name) => ({ name, in: 'query', type: 'string', uniqueItems: true }),
  response: (type) => ({ description: 'OK', schema: { $ref: `${v2Refs.prefix}${kindSchemaName(type)}` } }),
};

function operation(dialect: Dialect, type: ResourceType, action: string, params: string[]): Doc {
  return {
    operationId: `${action}${type.kind}`,
    parameters: params.map((name) => dialect.parameter(name)),
    responses: { 200: dialect.response(type) },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': { group: type.group, version: 'v1', kind: type.kind },
  };
}

function pathsOf(dialect: Dialect, types: readonly ResourceType[]): Doc {
  const paths: Doc = {};
  for (const type of types) {
    const base = type.group === '' ? '/api/v1' : `/apis/${type.group}/v1`;
    const collection = type.namespaced ? `${base}/namespaces/{namespace}/${type.resource}` : `${base}/${type.resource}`;
    const write = ['dryRun', 'fieldManager', 'fieldValidation'];
    paths[collection] = { get: operation(dialect, type, 'list', ['labelSelector', 'fieldSelector', 'limit', 'continue', 'watch', 'resourceVersion', 'resourceVersionMatch']), post: operation(dialect, type, 'post', write) };
    paths[`${collection}/{name}`] = {
      get: operation(dialect, type, 'get', []), put: operation(dialect, type, 'put', write),
      patch: operation(dialect, type, 'patch', [...write, 'force']), delete: operation(dialect, type, 'delete', ['dryRun', 'propagationPolicy']),
    };
  }
  return paths;
}

export function groupVersionDocument(group: string): Doc {
  const types = resourceTypes.filter((t) => t.group === group);
  return { openapi: '3.0.0', info, paths: pathsOf(v3, types), components: { schemas: schemasFor(types, v3.refs) } };
}

/** Every served kind in one Swagger 2.0 document. */
export function swaggerDocument(): Doc {
  const types = resourceTypes.filter((t) => groupVersions.some((gv) => gv.group === t.group));
  return { swagger: '2.0', info, paths: pathsOf(v2, types), definitions: schemasFor(types, v2.refs) };
}

/**
 * The media types of the protobuf v2 document: client-go asks for the first, kube-openapi serves the
 * second too. Answers carry the second, the one of them a Content-Type header may hold ("@" may not).
 */
const protobufTypes = ['application/com.github.proto-openapi.spec.v2@v1.0+protobuf', 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf'];
const protobufContentType = protobufTypes[1]!;

/** How to answer /openapi/v2: as the first of the Accept header's types Coffer serves (JSON without one); undefined when it names none. */
function v2Answer(accept: string | undefined): 'json' | 'protobuf' | undefined {
  if (accept === undefined || accept.trim() === '') return 'json';
  for (const part of accept.split(',')) {
    const type = (part.split(';')[0] ?? '').trim().toLowerCase();
    if (type === 'application/json' || type === 'application/*' || type === '*/*') return 'json';
    if (protobufTypes.includes(type)) return 'protobuf';
  }
  return undefined;
}

export function registerOpenApiRoutes(app: FastifyInstance): void {
  app.get('/openapi/v3', (_request, reply) => reply.send({
    paths: Object.fromEntries(groupVersions.map((gv) => [gv.path, { serverRelativeURL: `/openapi/v3/${gv.path}` }])),
  }));
  for (const gv of groupVersions) {
    const document = groupVersionDocument(gv.group);
    app.get(`/openapi/v3/${gv.path}`, (_request, reply) => reply.send(document));
  }
  const swagger = swaggerDocument();
  const swaggerProtobuf = Buffer.from(encodeSwaggerProtobuf(swagger));
  app.get('/openapi/v2', (request, reply) => {
    const answer = v2Answer(request.headers.accept);
    if (answer === undefined) return reply.code(406).send(status(406, 'NotAcceptable', `the OpenAPI v2 document is served as application/json or ${protobufTypes[0]}`));
    if (answer === 'json') return reply.send(swagger);
    return reply.type(protobufContentType).send(swaggerProtobuf);
  });
}
