/**
 * Where objects live in the KV: `/registry/<resource>/<namespace>/<name>` for namespaced kinds and
 * `/registry/<resource>/<name>` for cluster-scoped ones. Names and namespaces never contain '/'
 * (validated before a key is built), so a namespace prefix `/registry/<resource>/<ns>/` holds exactly
 * that namespace's objects.
 */
import { assert } from '../base/index.ts';
import type { ResourceType } from './resources.ts';

const encoder = new TextEncoder();
export const registryPrefix = '/registry/';
/** Written once, with the default RBAC policies, at a cluster's first start (bootstrap.ts). */
export const rbacBootstrapMarker = '/registry/coffer.dev/bootstrap/rbac-defaults';

export function objectKeyText(type: ResourceType, namespace: string | undefined, name: string): string {
  assert(!name.includes('/') && name !== '', 'object names are validated before a key is built');
  if (!type.namespaced) return `${registryPrefix}${type.resource}/${name}`;
  assert(namespace !== undefined && namespace !== '' && !namespace.includes('/'), 'namespaced keys carry a valid namespace');
  return `${registryPrefix}${type.resource}/${namespace}/${name}`;
}

export function objectKey(type: ResourceType, namespace: string | undefined, name: string): Uint8Array {
  return encoder.encode(objectKeyText(type, namespace, name));
}

/** The prefix of one namespace's objects of a type, or of all of them (namespace undefined). */
export function listPrefix(type: ResourceType, namespace: string | undefined): Uint8Array {
  return encoder.encode(type.namespaced && namespace !== undefined ? `${registryPrefix}${type.resource}/${namespace}/` : `${registryPrefix}${type.resource}/`);
}

export function textKey(text: string): Uint8Array {
  return encoder.encode(text);
}
