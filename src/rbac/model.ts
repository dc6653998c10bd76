/**
 * The RBAC object model, shaped exactly as Kubernetes' rbac.authorization.k8s.io/v1 so that kubectl
 * and existing manifests work unchanged: Role and ClusterRole hold rules; RoleBinding and
 * ClusterRoleBinding grant a role to subjects (users and groups — Coffer has no service accounts).
 *
 * These types describe objects that passed `parseRbacObject`; raw input is `unknown` until then.
 */

export const rbacApiGroup = 'rbac.authorization.k8s.io';
export const rbacApiVersion = `${rbacApiGroup}/v1`;

/** Matches every value of the list it appears in (verbs, apiGroups, resources, nonResourceURLs). */
export const wildcard = '*';

/** Kubernetes' resource verbs. Rules may name others (Kubernetes allows custom verbs); these are the ones Coffer's API uses. */
export const resourceVerbs = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] as const;
export type ResourceVerb = (typeof resourceVerbs)[number];

/**
 * Verbs of non-resource requests (`/healthz`, `/version`, `/api`, …): the lowercase HTTP method,
 * as in Kubernetes.
 */
export const nonResourceVerbs = ['get', 'head', 'post', 'put', 'patch', 'delete'] as const;

export interface ObjectMeta {
  name: string;
  /** Present exactly for Role and RoleBinding. */
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Server-set fields (uid, resourceVersion, creationTimestamp, …) pass through unchecked. */
  [field: string]: unknown;
}

export interface PolicyRule {
  verbs: string[];
  /** '' is the core group (secrets, configmaps, namespaces). */
  apiGroups?: string[];
  /** `secrets`, a subresource `secrets/versions`, `*`, or `*` followed by `/versions` (that subresource of any resource). */
  resources?: string[];
  /** When present, the rule matches only requests naming one of these objects. */
  resourceNames?: string[];
  /** ClusterRole only: exact paths, or prefixes ending in `*`. A rule has resources or nonResourceURLs, never both. */
  nonResourceURLs?: string[];
}

export type SubjectKind = 'User' | 'Group';

export interface Subject {
  kind: SubjectKind;
  name: string;
  /** Always rbac.authorization.k8s.io for User and Group (filled in when omitted, as Kubernetes defaults it). */
  apiGroup: string;
}

export type RoleKind = 'Role' | 'ClusterRole';
export type BindingKind = 'RoleBinding' | 'ClusterRoleBinding';

export interface RoleRef {
  apiGroup: string;
  kind: RoleKind;
  name: string;
}

export interface Role {
  apiVersion: typeof rbacApiVersion;
  kind: 'Role';
  metadata: ObjectMeta & { namespace: string };
  rules: PolicyRule[];
}

export interface ClusterRole {
  apiVersion: typeof rbacApiVersion;
  kind: 'ClusterRole';
  metadata: ObjectMeta;
  rules: PolicyRule[];
}

export interface RoleBinding {
  apiVersion: typeof rbacApiVersion;
  kind: 'RoleBinding';
  metadata: ObjectMeta & { namespace: string };
  subjects: Subject[];
  roleRef: RoleRef;
}

export interface ClusterRoleBinding {
  apiVersion: typeof rbacApiVersion;
  kind: 'ClusterRoleBinding';
  metadata: ObjectMeta;
  subjects: Subject[];
  roleRef: RoleRef & { kind: 'ClusterRole' };
}

export type RbacObject = Role | ClusterRole | RoleBinding | ClusterRoleBinding;
export type RbacKind = RbacObject['kind'];
export const rbacKinds: readonly RbacKind[] = ['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'];

/** The resource name under which each kind is served and stored (`/registry/<resource>/…`). */
export const rbacResourceOf: Readonly<Record<RbacKind, string>> = {
  Role: 'roles',
  ClusterRole: 'clusterroles',
  RoleBinding: 'rolebindings',
  ClusterRoleBinding: 'clusterrolebindings',
};
