/**
 * Coffer's vocabulary of API groups, resources and well-known groups — what the API puts into an
 * authorization request and what the default policies name.
 *
 * Coffer's operations beyond Kubernetes' verbs are subresources of `secrets` in the `coffer.dev`
 * group, the way Kubernetes models `pods/exec` or `deployments/scale`, so RBAC needs no custom verbs:
 *
 *   POST /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/rotate     → create secrets/rotate
 *   POST /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/rollback   → create secrets/rollback
 *   POST /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/promote    → create secrets/promote
 *   GET  /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/versions   → get    secrets/versions
 *
 * The etcd KV API's keys are the cluster-scoped resource `kvkeys`, whose rules read resourceNames as key
 * prefixes (key-ranges.ts).
 *
 * A rule for `secrets` grants none of these (Kubernetes semantics: a subresource is matched only by
 * `secrets/rotate`, by `*` alone, or by
 * the any-resource form: a star, a slash and `rotate`).
 */

/** The core group (`/api/v1`): namespaces, secrets, configmaps. */
export const coreApiGroup = '';
/** Coffer's own group (`/apis/coffer.dev/v1`). */
export const cofferApiGroup = 'coffer.dev';

/** Kubernetes' groups of the reviews a caller asks about itself (`kubectl auth can-i`, `auth whoami`). */
export const authorizationApiGroup = 'authorization.k8s.io';
export const authenticationApiGroup = 'authentication.k8s.io';

/**
 * The group every verified identity carries, as in Kubernetes. The API adds it to the groups of the
 * certificate; the default policies bind API discovery to it.
 */
export const authenticatedGroup = 'system:authenticated';
/** Bound to cluster-admin by the default policies. */
export const mastersGroup = 'system:masters';

/**
 * Resources that exist only at cluster scope, keyed `apiGroup/resource`. A RoleBinding never grants
 * them: the evaluator ignores any namespace a request for them carries. (Kubernetes lets a RoleBinding
 * grant `get` on its own Namespace object; Coffer does not — namespaces are administered cluster-wide.)
 */
const clusterScopedResources: ReadonlySet<string> = new Set([
  `${coreApiGroup}/namespaces`,
  'rbac.authorization.k8s.io/clusterroles',
  'rbac.authorization.k8s.io/clusterrolebindings',
  `${cofferApiGroup}/auditevents`,
  `${cofferApiGroup}/keys`,
  `${cofferApiGroup}/kvkeys`,
  `${cofferApiGroup}/members`,
  `${cofferApiGroup}/snapshots`,
  `${cofferApiGroup}/certificates`,
  // The reviews a caller asks about itself (kubectl auth can-i, auth whoami): no namespace of their own.
  `${authorizationApiGroup}/selfsubjectaccessreviews`,
  `${authorizationApiGroup}/selfsubjectrulesreviews`,
  `${authenticationApiGroup}/selfsubjectreviews`,
]);

export function isClusterScoped(apiGroup: string, resource: string): boolean {
  return clusterScopedResources.has(`${apiGroup}/${resource}`);
}
