/**
 * Validation of RBAC objects from untrusted input (API bodies, policy files), with Kubernetes' rules
 * and one cause per bad field. What passes is returned as a fresh, normalised object (defaults filled,
 * nothing aliased to the input), so later code can trust the types in model.ts.
 *
 * Stricter than Kubernetes where leniency would be silently dangerous: unknown fields are refused (a
 * misspelt `resourceName:` must not turn a narrow rule into a broad one), `*` is refused in
 * resourceNames (Kubernetes treats it as a literal name that never matches), and resources must be
 * lowercase names, `*`, `name/subresource` or `*` before `/subresource`.
 */
import { nameLengthMax, namespaceLengthMax, rbacRuleValuesMax, rbacRulesMax, rbacStringLengthMax, rbacSubjectsMax } from '../config/index.ts';
import { type FieldCause, RbacError } from './errors.ts';
import {
  type ClusterRole, type ClusterRoleBinding, type ObjectMeta, type PolicyRule, type RbacKind, type RbacObject,
  type Role, type RoleBinding, type RoleRef, type Subject, rbacApiGroup, rbacApiVersion, rbacKinds, wildcard,
} from './model.ts';

type Fields = Record<string, unknown>;

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const resourcePart = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const verbPattern = /^[a-z][a-z0-9]*$/;

/** Validates `value` as one RBAC object; throws RbacError INVALID_OBJECT listing every bad field. */
export function parseRbacObject(value: unknown): RbacObject {
  const causes: FieldCause[] = [];
  const result = check(value, causes);
  if (result === undefined || causes.length > 0) {
    throw new RbacError('INVALID_OBJECT', `${describe(value)} is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join('; ')}`, { causes });
  }
  return result;
}

function describe(value: unknown): string {
  if (!isFields(value)) return 'RBAC object';
  const kind = typeof value.kind === 'string' && value.kind !== '' ? value.kind : 'RBAC object';
  const meta = value.metadata;
  const name = isFields(meta) && typeof meta.name === 'string' ? meta.name : '';
  const namespace = isFields(meta) && typeof meta.namespace === 'string' && meta.namespace !== '' ? `${meta.namespace}/` : '';
  return name === '' ? kind : `${kind} ${JSON.stringify(namespace + name)}`;
}

function check(value: unknown, causes: FieldCause[]): RbacObject | undefined {
  if (!isFields(value)) {
    causes.push({ field: '<object>', message: 'must be an object' });
    return undefined;
  }
  if (value.apiVersion !== rbacApiVersion) {
    causes.push({ field: 'apiVersion', message: value.apiVersion === undefined ? 'required' : `must be ${JSON.stringify(rbacApiVersion)}` });
  }
  const kind = value.kind;
  if (!rbacKinds.includes(kind as RbacKind)) {
    causes.push({ field: 'kind', message: kind === undefined ? 'required' : `must be one of ${rbacKinds.join(', ')}` });
    return undefined;
  }
  switch (kind as RbacKind) {
    case 'Role': {
      refuseUnknown(value, ['apiVersion', 'kind', 'metadata', 'rules'], '', causes);
      const role: Role = { apiVersion: rbacApiVersion, kind: 'Role', metadata: namespacedMeta(value.metadata, causes), rules: rules(value.rules, true, causes) };
      return role;
    }
    case 'ClusterRole': {
      if (value.aggregationRule !== undefined) causes.push({ field: 'aggregationRule', message: 'not supported by Coffer; list the rules instead' });
      refuseUnknown(value, ['apiVersion', 'kind', 'metadata', 'rules', 'aggregationRule'], '', causes);
      const role: ClusterRole = { apiVersion: rbacApiVersion, kind: 'ClusterRole', metadata: clusterMeta(value.metadata, 'ClusterRole', causes), rules: rules(value.rules, false, causes) };
      return role;
    }
    case 'RoleBinding': {
      refuseUnknown(value, ['apiVersion', 'kind', 'metadata', 'subjects', 'roleRef'], '', causes);
      const binding: RoleBinding = {
        apiVersion: rbacApiVersion, kind: 'RoleBinding', metadata: namespacedMeta(value.metadata, causes),
        subjects: subjects(value.subjects, causes), roleRef: roleRef(value.roleRef, 'RoleBinding', causes),
      };
      return binding;
    }
    case 'ClusterRoleBinding': {
      refuseUnknown(value, ['apiVersion', 'kind', 'metadata', 'subjects', 'roleRef'], '', causes);
      const ref = roleRef(value.roleRef, 'ClusterRoleBinding', causes);
      const binding: ClusterRoleBinding = {
        apiVersion: rbacApiVersion, kind: 'ClusterRoleBinding', metadata: clusterMeta(value.metadata, 'ClusterRoleBinding', causes),
        subjects: subjects(value.subjects, causes), roleRef: { ...ref, kind: 'ClusterRole' },
      };
      return binding;
    }
  }
}

// ── metadata ───────────────────────────────────────────────────────────────────────────────────

function baseMeta(value: unknown, causes: FieldCause[]): ObjectMeta {
  if (!isFields(value)) {
    causes.push({ field: 'metadata', message: value === undefined ? 'required' : 'must be an object' });
    return { name: '' };
  }
  // A deep copy: server-set fields pass through, but nothing stays aliased to the caller's input.
  const meta: ObjectMeta = { ...structuredClone(value), name: '' };
  const name = value.name;
  if (typeof name !== 'string' || name === '') {
    causes.push({ field: 'metadata.name', message: name === undefined || name === '' ? 'required' : 'must be a string' });
  } else {
    const problem = pathSegmentProblem(name, nameLengthMax);
    if (problem !== undefined) causes.push({ field: 'metadata.name', message: problem });
    meta.name = name;
  }
  for (const key of ['labels', 'annotations'] as const) {
    const map = value[key];
    if (map === undefined) continue;
    if (!isFields(map) || Object.values(map).some((v) => typeof v !== 'string')) {
      causes.push({ field: `metadata.${key}`, message: 'must be a map of strings' });
    } else {
      meta[key] = { ...(map as Record<string, string>) };
    }
  }
  return meta;
}

function namespacedMeta(value: unknown, causes: FieldCause[]): ObjectMeta & { namespace: string } {
  const meta = baseMeta(value, causes);
  const namespace = meta.namespace;
  if (typeof namespace !== 'string' || namespace === '') {
    causes.push({ field: 'metadata.namespace', message: namespace === undefined || namespace === '' ? 'required' : 'must be a string' });
    return { ...meta, namespace: '' };
  }
  if (namespace.length > namespaceLengthMax || !dnsLabel.test(namespace)) {
    causes.push({ field: 'metadata.namespace', message: `${JSON.stringify(namespace)} is not a DNS-1123 label (lowercase letters, digits, '-', at most ${namespaceLengthMax})` });
  }
  return { ...meta, namespace };
}

function clusterMeta(value: unknown, kind: RbacKind, causes: FieldCause[]): ObjectMeta {
  const meta = baseMeta(value, causes);
  if (meta.namespace !== undefined && meta.namespace !== '') {
    causes.push({ field: 'metadata.namespace', message: `must be empty: a ${kind} is cluster-scoped` });
  }
  delete meta.namespace;
  return meta;
}

/** Kubernetes' rule for RBAC object names: any path segment, so `system:masters`-style names are fine. */
function pathSegmentProblem(name: string, lengthMax: number): string | undefined {
  if (name.length > lengthMax) return `longer than ${lengthMax} characters`;
  if (name === '.' || name === '..') return `may not be ${JSON.stringify(name)}`;
  if (name.includes('/') || name.includes('%')) return `${JSON.stringify(name)} may not contain '/' or '%'`;
  return undefined;
}

// ── rules ──────────────────────────────────────────────────────────────────────────────────────

function rules(value: unknown, namespaced: boolean, causes: FieldCause[]): PolicyRule[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    causes.push({ field: 'rules', message: 'must be a list' });
    return [];
  }
  if (value.length > rbacRulesMax) {
    causes.push({ field: 'rules', message: `${value.length} rules exceed rbacRulesMax (${rbacRulesMax})` });
    return [];
  }
  return value.map((item, i) => rule(item, `rules[${i}]`, namespaced, causes));
}

function rule(value: unknown, path: string, namespaced: boolean, causes: FieldCause[]): PolicyRule {
  if (!isFields(value)) {
    causes.push({ field: path, message: 'must be an object' });
    return { verbs: [] };
  }
  refuseUnknown(value, ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'], path, causes);
  const verbs = stringList(value, 'verbs', path, causes, verbProblem) ?? [];
  if (verbs.length === 0) causes.push({ field: `${path}.verbs`, message: 'required' });
  const apiGroups = stringList(value, 'apiGroups', path, causes, apiGroupProblem);
  const resources = stringList(value, 'resources', path, causes, resourceProblem);
  const resourceNames = stringList(value, 'resourceNames', path, causes, resourceNameProblem);
  const nonResourceURLs = stringList(value, 'nonResourceURLs', path, causes, nonResourceUrlProblem);
  const result: PolicyRule = { verbs };

  if (nonResourceURLs !== undefined && nonResourceURLs.length > 0) {
    if (namespaced) {
      causes.push({ field: `${path}.nonResourceURLs`, message: 'a Role (namespaced) cannot grant non-resource URLs; use a ClusterRole' });
    }
    if ((apiGroups?.length ?? 0) > 0 || (resources?.length ?? 0) > 0 || (resourceNames?.length ?? 0) > 0) {
      causes.push({ field: `${path}.nonResourceURLs`, message: 'a rule cannot apply to both resources and non-resource URLs' });
    }
    result.nonResourceURLs = nonResourceURLs;
    return result;
  }
  if (apiGroups === undefined || apiGroups.length === 0) {
    causes.push({ field: `${path}.apiGroups`, message: "required: a resource rule names at least one API group ('' is the core group)" });
  }
  if (resources === undefined || resources.length === 0) {
    causes.push({ field: `${path}.resources`, message: 'required: a resource rule names at least one resource' });
  }
  result.apiGroups = apiGroups ?? [];
  result.resources = resources ?? [];
  if (resourceNames !== undefined && resourceNames.length > 0) result.resourceNames = resourceNames;
  return result;
}

function verbProblem(verb: string): string | undefined {
  return verb === wildcard || verbPattern.test(verb) ? undefined : `${JSON.stringify(verb)} is not a verb (lowercase letters and digits) or '*'`;
}

function apiGroupProblem(group: string): string | undefined {
  return group === '' || group === wildcard || dnsSubdomain.test(group) ? undefined : `${JSON.stringify(group)} is not an API group ('', '*' or a DNS name)`;
}

function resourceProblem(resource: string): string | undefined {
  if (resource === wildcard) return undefined;
  const parts = resource.split('/');
  const [main, sub] = parts;
  const mainOk = main === wildcard || (main !== undefined && resourcePart.test(main));
  const subOk = sub === undefined || resourcePart.test(sub);
  if (parts.length <= 2 && mainOk && subOk) return undefined;
  return `${JSON.stringify(resource)} is not a resource: use 'name', 'name/subresource', '*' or '*' followed by '/subresource' (lowercase)`;
}

function resourceNameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (name === wildcard) return "'*' is not a wildcard in resourceNames (it would match nothing); omit resourceNames to match every name";
  return undefined;
}

function nonResourceUrlProblem(url: string): string | undefined {
  if (url === wildcard) return undefined;
  const starAt = url.indexOf(wildcard);
  if (!url.startsWith('/')) return `${JSON.stringify(url)} must start with '/' (or be '*')`;
  if (starAt !== -1 && starAt !== url.length - 1) return `${JSON.stringify(url)}: '*' may only end a non-resource URL (a prefix match)`;
  return undefined;
}

// ── subjects and roleRef ───────────────────────────────────────────────────────────────────────

function subjects(value: unknown, causes: FieldCause[]): Subject[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    causes.push({ field: 'subjects', message: 'must be a list' });
    return [];
  }
  if (value.length > rbacSubjectsMax) {
    causes.push({ field: 'subjects', message: `${value.length} subjects exceed rbacSubjectsMax (${rbacSubjectsMax})` });
    return [];
  }
  return value.map((item, i) => subject(item, `subjects[${i}]`, causes));
}

function subject(value: unknown, path: string, causes: FieldCause[]): Subject {
  const fallback: Subject = { kind: 'User', name: '', apiGroup: rbacApiGroup };
  if (!isFields(value)) {
    causes.push({ field: path, message: 'must be an object' });
    return fallback;
  }
  refuseUnknown(value, ['kind', 'name', 'apiGroup', 'namespace'], path, causes);
  const kind = value.kind;
  if (kind === 'ServiceAccount') {
    causes.push({ field: `${path}.kind`, message: 'ServiceAccount is not supported: Coffer identities are the users and groups of client certificates' });
  } else if (kind !== 'User' && kind !== 'Group') {
    causes.push({ field: `${path}.kind`, message: kind === undefined ? 'required: User or Group' : 'must be User or Group' });
  }
  const name = requiredString(value, 'name', path, causes);
  if (value.apiGroup !== undefined && value.apiGroup !== rbacApiGroup) {
    causes.push({ field: `${path}.apiGroup`, message: `must be ${JSON.stringify(rbacApiGroup)} for User and Group` });
  }
  if (value.namespace !== undefined && value.namespace !== '') {
    causes.push({ field: `${path}.namespace`, message: 'must be empty for User and Group' });
  }
  return { kind: kind === 'Group' ? 'Group' : 'User', name, apiGroup: rbacApiGroup };
}

function roleRef(value: unknown, bindingKind: 'RoleBinding' | 'ClusterRoleBinding', causes: FieldCause[]): RoleRef {
  if (!isFields(value)) {
    causes.push({ field: 'roleRef', message: value === undefined ? 'required' : 'must be an object' });
    return { apiGroup: rbacApiGroup, kind: 'ClusterRole', name: '' };
  }
  refuseUnknown(value, ['apiGroup', 'kind', 'name'], 'roleRef', causes);
  if (value.apiGroup !== undefined && value.apiGroup !== rbacApiGroup) {
    causes.push({ field: 'roleRef.apiGroup', message: `must be ${JSON.stringify(rbacApiGroup)}` });
  }
  const kind = value.kind;
  if (bindingKind === 'ClusterRoleBinding' && kind === 'Role') {
    causes.push({ field: 'roleRef.kind', message: 'a ClusterRoleBinding may refer only to a ClusterRole' });
  } else if (kind !== 'Role' && kind !== 'ClusterRole') {
    causes.push({ field: 'roleRef.kind', message: kind === undefined ? 'required: Role or ClusterRole' : 'must be Role or ClusterRole' });
  }
  const name = requiredString(value, 'name', 'roleRef', causes);
  const problem = name === '' ? undefined : pathSegmentProblem(name, nameLengthMax);
  if (problem !== undefined) causes.push({ field: 'roleRef.name', message: problem });
  return { apiGroup: rbacApiGroup, kind: kind === 'Role' ? 'Role' : 'ClusterRole', name };
}

// ── helpers ────────────────────────────────────────────────────────────────────────────────────

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refuseUnknown(value: Fields, known: readonly string[], path: string, causes: FieldCause[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) causes.push({ field: path === '' ? key : `${path}.${key}`, message: 'unknown field' });
  }
}

function requiredString(value: Fields, key: string, path: string, causes: FieldCause[]): string {
  const field = `${path}.${key}`;
  const text = value[key];
  if (typeof text !== 'string' || text === '') {
    causes.push({ field, message: text === undefined || text === '' ? 'required' : 'must be a string' });
    return '';
  }
  if (text.length > rbacStringLengthMax) {
    causes.push({ field, message: `longer than rbacStringLengthMax (${rbacStringLengthMax})` });
  }
  return text;
}

/** A list of strings, each checked; undefined when the field is absent. */
function stringList(
  value: Fields, key: string, path: string, causes: FieldCause[], problemOf: (item: string) => string | undefined,
): string[] | undefined {
  const list = value[key];
  const field = `${path}.${key}`;
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) {
    causes.push({ field, message: 'must be a list of strings' });
    return undefined;
  }
  if (list.length > rbacRuleValuesMax) {
    causes.push({ field, message: `${list.length} values exceed rbacRuleValuesMax (${rbacRuleValuesMax})` });
    return undefined;
  }
  const items: string[] = [];
  list.forEach((item: unknown, i) => {
    if (typeof item !== 'string') {
      causes.push({ field: `${field}[${i}]`, message: 'must be a string' });
      return;
    }
    const problem = item.length > rbacStringLengthMax ? `longer than rbacStringLengthMax (${rbacStringLengthMax})` : problemOf(item);
    if (problem !== undefined) causes.push({ field: `${field}[${i}]`, message: problem });
    items.push(item);
  });
  return items;
}
