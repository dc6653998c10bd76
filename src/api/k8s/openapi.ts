/**
 * The OpenAPI v3 documents kubectl reads before `apply` with validation on. kubectl asks the server
 * whether it validates fields itself (a `fieldValidation` query parameter on the POST/PUT/PATCH
 * operations of the kind's group-version); Coffer does (registry validation, and unknown fields
 * refused with fieldValidation=Strict — strict.ts), so kubectl skips client-side schema validation. Schemas in
 * `components` are deliberately minimal, typed enough for kubectl's strategic merge (maps are maps).
 */
import type { FastifyInstance } from 'fastify';
import { resourceTypes, type ResourceType } from '../../registry/index.ts';

type Doc = Record<string, unknown>;

const groupVersions: readonly { group: string; path: string }[] = [
  { group: '', path: 'api/v1' },
  { group: 'rbac.authorization.k8s.io', path: 'apis/rbac.authorization.k8s.io/v1' },
];

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const objectMeta = {
  type: 'object',
  properties: {
    name: { type: 'string' }, namespace: { type: 'string' }, uid: { type: 'string' }, resourceVersion: { type: 'string' },
    generation: { type: 'integer', format: 'int64' }, creationTimestamp: { type: 'string', format: 'date-time' },
    labels: stringMap, annotations: stringMap,
  },
};
const stringList = { type: 'array', items: { type: 'string' } };

function bodySchema(type: ResourceType): Doc {
  switch (type.kind) {
    case 'Secret': return { data: stringMap, stringData: stringMap, type: { type: 'string' }, immutable: { type: 'boolean' } };
    case 'ConfigMap': return { data: stringMap, binaryData: stringMap, immutable: { type: 'boolean' } };
    case 'Namespace': return { spec: { type: 'object', properties: { finalizers: stringList } }, status: { type: 'object', properties: { phase: { type: 'string' } } } };
    case 'Role': case 'ClusterRole': return {
      rules: { type: 'array', items: { type: 'object', properties: { verbs: stringList, apiGroups: stringList, resources: stringList, resourceNames: stringList, nonResourceURLs: stringList } } },
    };
    default: return {
      subjects: { type: 'array', items: { type: 'object', properties: { kind: { type: 'string' }, apiGroup: { type: 'string' }, name: { type: 'string' }, namespace: { type: 'string' } } } },
      roleRef: { type: 'object', properties: { apiGroup: { type: 'string' }, kind: { type: 'string' }, name: { type: 'string' } } },
    };
  }
}

function schemaName(type: ResourceType): string {
  return type.group === '' ? `io.k8s.api.core.v1.${type.kind}` : `io.k8s.api.rbac.v1.${type.kind}`;
}

function gvk(type: ResourceType): Doc[] {
  return [{ group: type.group, version: 'v1', kind: type.kind }];
}

function operation(type: ResourceType, action: string, params: string[]): Doc {
  return {
    operationId: `${action}${type.kind}`,
    parameters: params.map((name) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } })),
    responses: { 200: { description: 'OK', content: { 'application/json': { schema: { $ref: `#/components/schemas/${schemaName(type)}` } } } } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk(type)[0],
  };
}

export function groupVersionDocument(group: string): Doc {
  const paths: Doc = {};
  const schemas: Doc = {};
  for (const type of resourceTypes.filter((t) => t.group === group)) {
    const base = group === '' ? '/api/v1' : `/apis/${group}/v1`;
    const collection = type.namespaced ? `${base}/namespaces/{namespace}/${type.resource}` : `${base}/${type.resource}`;
    const write = ['dryRun', 'fieldManager', 'fieldValidation'];
    paths[collection] = { get: operation(type, 'list', ['labelSelector', 'fieldSelector', 'limit', 'continue', 'watch', 'resourceVersion']), post: operation(type, 'post', write) };
    paths[`${collection}/{name}`] = {
      get: operation(type, 'get', []), put: operation(type, 'put', write), patch: operation(type, 'patch', [...write, 'force']), delete: operation(type, 'delete', []),
    };
    schemas[schemaName(type)] = {
      type: 'object',
      properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: objectMeta, ...bodySchema(type) },
      'x-kubernetes-group-version-kind': gvk(type),
    };
  }
  return { openapi: '3.0.0', info: { title: 'Coffer', version: 'v1' }, paths, components: { schemas } };
}

export function registerOpenApiRoutes(app: FastifyInstance): void {
  app.get('/openapi/v3', (_request, reply) => reply.send({
    paths: Object.fromEntries(groupVersions.map((gv) => [gv.path, { serverRelativeURL: `/openapi/v3/${gv.path}` }])),
  }));
  for (const gv of groupVersions) {
    const document = groupVersionDocument(gv.group);
    app.get(`/openapi/v3/${gv.path}`, (_request, reply) => reply.send(document));
  }
}
