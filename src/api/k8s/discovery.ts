/**
 * The discovery documents kubectl reads before anything else: /api (core versions), /api/v1 and
 * /apis/<group>/v1 (APIResourceLists: name, kind, scope, verbs, shortNames), /apis (groups) and
 * /version. They are answered as the legacy (unaggregated) documents with Content-Type
 * application/json, which every client accepts.
 */
import type { FastifyInstance } from 'fastify';
import { resourceTypes, type ResourceType } from '../../registry/index.ts';
import { authenticationApiGroup, authorizationApiGroup, cofferApiGroup } from '../../rbac/index.ts';

const verbs = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const groups = ['rbac.authorization.k8s.io', cofferApiGroup, authorizationApiGroup, authenticationApiGroup];

/**
 * Resources of a group beyond the registry's types. coffer.dev/v1 has only subresources of Secrets
 * (secret-versions.ts), listed as Kubernetes lists `deployments/scale`; client-go needs a group to list
 * something (an empty group is a discovery failure it retries on every call). The review kinds
 * (reviews.ts) can only be created.
 */
const otherResources: Record<string, Record<string, unknown>[]> = {
  [cofferApiGroup]: [
    subresource('secrets/versions', 'SecretVersionList', ['get']),
    subresource('secrets/rotate', 'SecretVersion', ['create']),
    subresource('secrets/promote', 'SecretVersion', ['create']),
    subresource('secrets/rollback', 'SecretVersion', ['create']),
  ],
  [authorizationApiGroup]: [review('selfsubjectaccessreviews', 'SelfSubjectAccessReview'), review('selfsubjectrulesreviews', 'SelfSubjectRulesReview')],
  [authenticationApiGroup]: [review('selfsubjectreviews', 'SelfSubjectReview')],
};

function subresource(name: string, kind: string, subresourceVerbs: string[]): Record<string, unknown> {
  return { name, singularName: '', namespaced: true, kind, verbs: subresourceVerbs };
}

function review(name: string, kind: string): Record<string, unknown> {
  return { name, singularName: '', namespaced: false, kind, verbs: ['create'] };
}

/** The Kubernetes version Coffer's API behaves as (kubectl warns on large skews). */
export const kubernetesVersion = { major: '1', minor: '32', gitVersion: 'v1.32.0+coffer' };

function resourceEntry(type: ResourceType): Record<string, unknown> {
  return {
    name: type.resource, singularName: type.singular, namespaced: type.namespaced, kind: type.kind, verbs,
    ...(type.shortNames.length > 0 ? { shortNames: [...type.shortNames] } : {}),
    storageVersionHash: '',
  };
}

export function resourceList(group: string): Record<string, unknown> {
  return {
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group === '' ? 'v1' : `${group}/v1`,
    resources: [...resourceTypes.filter((t) => t.group === group).map(resourceEntry), ...(otherResources[group] ?? [])],
  };
}

function groupEntry(name: string): Record<string, unknown> {
  const version = { groupVersion: `${name}/v1`, version: 'v1' };
  return { name, versions: [version], preferredVersion: version };
}

export function registerDiscoveryRoutes(app: FastifyInstance): void {
  app.get('/api', () => ({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '' }] }));
  app.get('/api/v1', () => resourceList(''));
  app.get('/apis', () => ({ kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(groupEntry) }));
  for (const group of groups) {
    app.get(`/apis/${group}`, () => ({ kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(group) }));
    app.get(`/apis/${group}/v1`, () => resourceList(group));
  }
  app.get('/version', () => ({
    ...kubernetesVersion, gitCommit: '', gitTreeState: 'clean', buildDate: '1970-01-01T00:00:00Z',
    goVersion: `node${process.versions.node}`, compiler: 'tsx', platform: `${process.platform}/${process.arch}`,
  }));
}
