/**
 * The labels a request is counted under in /metrics, from fixed sets only: a label value is never
 * taken from the URL as sent, so no caller can mint new series (unknown → `other`). A non-resource
 * route's label is the one its API declares (route-config.ts: the KV API's is `kv`).
 */
import { resourceTypes } from '../registry/index.ts';
import type { RequestParse } from './request.ts';
import type { ApiRouteConfig } from './route-config.ts';

const knownResources = new Set([...resourceTypes.map((type) => type.resource), 'auditevents']);
const knownVerbs = new Set([
  'get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'impersonate', 'head', 'post', 'put', 'options',
]);

export function metricLabels(parsed: RequestParse, route: ApiRouteConfig): { verb: string; resource: string } {
  const verb = knownVerbs.has(parsed.info.verb) ? parsed.info.verb : 'other';
  if (!parsed.ok) return { verb, resource: 'other' };
  const { info } = parsed;
  if (info.isResource) return { verb, resource: knownResources.has(info.resource) ? info.resource : 'other' };
  return { verb, resource: route.metricResource ?? 'nonresource' };
}
