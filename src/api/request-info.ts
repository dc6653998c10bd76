/**
 * What a request asks for, in RBAC's terms, as Kubernetes' RequestInfoFactory derives it — from the
 * request's decoded path segments and its parsed `watch` flag (request.ts), the same parsed request the
 * handler serves. `/api/...` and `/apis/<group>/<version>/...` with a resource are resource requests;
 * anything else (discovery, /version, /openapi, health, /v3 KV) is a non-resource request whose verb is
 * the lowercase HTTP method.
 *
 * A list or watch of a collection whose field selector is exactly `metadata.name=NAME` (or `==`), its only
 * term, is a request for NAME, as Kubernetes takes it: a role's resourceNames then apply, so a caller
 * allowed one object may list and watch it (`kubectl get secret NAME -w`, an informer of one object).
 * The selector is read by the parser the list and watch filter with (registry parseFieldSelector), from
 * the same parsed query, so the name authorized is the one the answer is filtered on; anything else —
 * several terms, `!=`, another field, a selector that does not parse — names nothing.
 */
import { parseFieldSelector } from '../registry/index.ts';

export interface ResourceInfo {
  isResource: true;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

export interface NonResourceInfo {
  isResource: false;
  verb: string;
  path: string;
}

export type RequestInfo = ResourceInfo | NonResourceInfo;

const auditApiGroup = 'coffer.dev';

/**
 * `segments` are the decoded path segments; `path` the canonical path they came from; `fieldSelector`
 * the decoded `fieldSelector` query parameter, if any.
 */
export function requestInfo(method: string, path: string, segments: readonly string[], watch: boolean, fieldSelector?: string): RequestInfo {
  const lower = method.toLowerCase();
  let rest: string[];
  let apiGroup: string;
  let apiVersion: string;
  if (segments[0] === 'api' && segments.length >= 3) {
    apiGroup = '';
    apiVersion = segments[1] ?? '';
    rest = segments.slice(2);
  } else if (segments[0] === 'apis' && segments.length >= 4) {
    apiGroup = segments[1] ?? '';
    apiVersion = segments[2] ?? '';
    rest = segments.slice(3);
  } else {
    return { isResource: false, verb: lower, path };
  }
  // Coffer's audit API is not object-shaped: GET /audit/events lists `auditevents`, GET /audit/verify
  // gets `auditevents/verify` (cluster-scoped, named by no object).
  if (apiGroup === auditApiGroup && rest[0] === 'audit' && rest.length === 2 && (rest[1] === 'events' || rest[1] === 'verify')) {
    const verify = rest[1] === 'verify';
    const verb = lower === 'get' || lower === 'head' ? (verify ? 'get' : 'list') : lower === 'post' ? 'create' : lower;
    return { isResource: true, verb, apiGroup, apiVersion, resource: 'auditevents', subresource: verify ? 'verify' : '', namespace: '', name: '' };
  }
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1] ?? '';
    if (rest.length > 2) rest = rest.slice(2);
  }
  const resource = rest[0] ?? '';
  let name = rest[1] ?? '';
  const subresource = rest.slice(2).join('/');
  let verb: string;
  switch (lower) {
    // A watch is of a collection or of one object; a subresource's GET is a get whatever its query says
    // (Kubernetes reads `watch` only without a name), so that it is authorized as what its handler serves.
    case 'get': case 'head': verb = watch && subresource === '' ? 'watch' : name === '' ? 'list' : 'get'; break;
    case 'post': verb = 'create'; break;
    case 'put': verb = 'update'; break;
    case 'patch': verb = 'patch'; break;
    case 'delete': verb = name === '' ? 'deletecollection' : 'delete'; break;
    default: verb = lower;
  }
  if ((verb === 'list' || verb === 'watch') && name === '') name = selectedName(fieldSelector);
  // A Namespace object's own namespace is itself; RBAC evaluates namespaces at cluster scope anyway.
  if (resource === 'namespaces' && apiGroup === '') namespace = '';
  return { isResource: true, verb, apiGroup, apiVersion, resource, subresource, namespace, name };
}

/**
 * The name an exact `metadata.name` selector asks for when it is the selector's only term, else ''. A
 * name that could not be a path segment (Kubernetes' IsValidPathSegmentName) names nothing, as there.
 */
function selectedName(fieldSelector: string | undefined): string {
  if (fieldSelector === undefined || fieldSelector === '') return '';
  let terms;
  try {
    terms = parseFieldSelector(fieldSelector);
  } catch {
    return ''; // the list or watch refuses it (400)
  }
  const only = terms.length === 1 ? terms[0] : undefined;
  if (only === undefined || only.field !== 'metadata.name' || !only.equal) return '';
  const name = only.value;
  return name === '.' || name === '..' || name.includes('/') || name.includes('%') ? '' : name;
}
