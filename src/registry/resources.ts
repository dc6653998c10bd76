/**
 * The resource types the registry serves, one descriptor each: where it lives (group, version,
 * scope), how kubectl names it (kind, shortNames), which names it accepts, how a body is validated
 * into its stored form, which updates it refuses, and the allowlist a response is built from.
 */
import {
  parseRbacObject, isRbacError, rbacApiGroup, rbacApiVersion, type PolicyRule, type Subject,
} from '../rbac/index.ts';
import type { StatusCause } from './errors.ts';
import { equalValues } from './equal-values.ts';
import { configMapBody, projectConfigMap } from './configmap.ts';
import { dns1123LabelErrors, dns1123SubdomainErrors, pathSegmentNameErrors } from './names.ts';
import { isJson, type Json } from './object.ts';
import { rotationAnnotationCauses } from './scheduled-rotation.ts';
import { projectSecret, secretBody, secretTypes } from './secret.ts';

export interface ResourceType {
  /** Plural, lowercase: the URL segment and the RBAC resource. */
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  /** '' for the core group. */
  group: string;
  apiVersion: string;
  namespaced: boolean;
  shortNames: readonly string[];
  /** Top-level body fields a field selector may name, besides metadata.name and metadata.namespace. */
  selectableFields?: readonly string[];
  nameErrors(name: string): string[];
  /** Validates everything but metadata; returns the body fields to store. */
  body(input: Json, causes: StatusCause[], meta: { name: string; namespace: string | undefined }): Json;
  /** Causes that refuse an update of `current` to `next` (both stored bodies). */
  updateCauses(current: Json, next: Json): StatusCause[];
  /** Fields no update may change, checked on the request body before it is validated (so the answer names them whatever else is wrong). */
  fixedFieldCauses?(current: Json, input: Json): StatusCause[];
  /** The body fields of a stored object a response may carry. */
  project(stored: Json): Json;
  /** Body fields the server sets: never owned by a field manager (managed-fields/view.ts). */
  serverFields?: readonly string[];
}

function immutableData(current: Json, next: Json, fields: readonly string[]): StatusCause[] {
  const causes: StatusCause[] = [];
  if (current.immutable === true) {
    for (const f of fields) {
      // Compared as values (key order is no change), Secret data in constant time.
      if (!equalValues(current[f] ?? null, next[f] ?? null)) {
        causes.push({ field: f, message: 'Forbidden: field is immutable when `immutable` is set', reason: 'FieldValueForbidden' });
      }
    }
    if (next.immutable !== true) causes.push({ field: 'immutable', message: 'Forbidden: field is immutable when `immutable` is set', reason: 'FieldValueForbidden' });
  }
  return causes;
}

export const secrets: ResourceType = {
  resource: 'secrets', singular: 'secret', kind: 'Secret', listKind: 'SecretList', group: '', apiVersion: 'v1',
  namespaced: true, shortNames: [], selectableFields: ['type'],
  nameErrors: dns1123SubdomainErrors,
  body: (input, causes) => {
    // Scheduled rotation's annotations are checked with the body, so a bad one refuses the write (422).
    causes.push(...rotationAnnotationCauses(isJson(input.metadata) ? input.metadata.annotations : undefined, input.immutable));
    return secretBody(input, causes);
  },
  updateCauses: (current, next) => immutableData(current, next, ['data']),
  fixedFieldCauses: (current, input) => {
    const next = input.type === undefined || input.type === null || input.type === '' ? secretTypes.opaque : input.type;
    return next === current.type ? [] : [{ field: 'type', message: `Invalid value: ${JSON.stringify(next).slice(0, 64)}: field is immutable`, reason: 'FieldValueInvalid' }];
  },
  project: projectSecret,
};

export const configMaps: ResourceType = {
  resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', listKind: 'ConfigMapList', group: '', apiVersion: 'v1',
  namespaced: true, shortNames: ['cm'],
  nameErrors: dns1123SubdomainErrors,
  body: (input, causes) => configMapBody(input, causes),
  updateCauses: (current, next) => immutableData(current, next, ['data', 'binaryData']),
  project: projectConfigMap,
};

export const namespaces: ResourceType = {
  resource: 'namespaces', singular: 'namespace', kind: 'Namespace', listKind: 'NamespaceList', group: '', apiVersion: 'v1',
  namespaced: false, shortNames: ['ns'],
  nameErrors: dns1123LabelErrors,
  serverFields: ['spec', 'status'],
  // The phase is not stored: a namespace marked for deletion (registry.ts) is Terminating until emptied.
  body: () => ({ spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }),
  updateCauses: () => [],
  project: (stored) => ({
    spec: { finalizers: ['kubernetes'] },
    status: { phase: isJson(stored.metadata) && stored.metadata.deletionTimestamp !== undefined ? 'Terminating' : 'Active' },
  }),
};

function rbacType(kind: 'Role' | 'ClusterRole' | 'RoleBinding' | 'ClusterRoleBinding', resource: string, namespaced: boolean): ResourceType {
  const isRole = kind === 'Role' || kind === 'ClusterRole';
  return {
    resource, singular: resource.slice(0, -1), kind, listKind: `${kind}List`, group: rbacApiGroup, apiVersion: rbacApiVersion,
    namespaced, shortNames: [],
    nameErrors: pathSegmentNameErrors,
    body: (input, causes, meta) => {
      const candidate: Json = { apiVersion: rbacApiVersion, kind, metadata: { name: meta.name, ...(namespaced ? { namespace: meta.namespace } : {}) } };
      for (const field of isRole ? ['rules', 'aggregationRule'] : ['subjects', 'roleRef']) {
        if (input[field] !== undefined) candidate[field] = input[field];
      }
      for (const field of Object.keys(input)) {
        if (!['apiVersion', 'kind', 'metadata', 'rules', 'aggregationRule', 'subjects', 'roleRef'].includes(field)) {
          causes.push({ field, message: 'unknown field', reason: 'FieldValueNotSupported' });
        }
      }
      try {
        const parsed = parseRbacObject(candidate);
        return isRole ? { rules: (parsed as { rules: PolicyRule[] }).rules } : { subjects: (parsed as { subjects: Subject[] }).subjects, roleRef: (parsed as unknown as { roleRef: Json }).roleRef };
      } catch (error) {
        if (!isRbacError(error)) throw error;
        for (const c of error.causes) causes.push({ field: c.field, message: c.message, reason: 'FieldValueInvalid' });
        if (error.causes.length === 0) causes.push({ field: '<object>', message: error.message, reason: 'FieldValueInvalid' });
        return {};
      }
    },
    updateCauses: (current, next) => (kind.endsWith('Binding') && JSON.stringify(current.roleRef) !== JSON.stringify(next.roleRef)
      ? [{ field: 'roleRef', message: 'Invalid value: cannot change roleRef', reason: 'FieldValueInvalid' }]
      : []),
    project: (stored) => (isRole ? { rules: projectList(stored.rules, projectRule) } : { subjects: projectList(stored.subjects, projectSubject), roleRef: projectRoleRef(stored.roleRef) }),
  };
}

function projectList(value: unknown, each: (item: Json) => Json): Json[] {
  return Array.isArray(value) ? value.filter(isJson).map(each) : [];
}

function strings(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
}

function projectRule(rule: Json): Json {
  const out: Json = { verbs: strings(rule.verbs) ?? [] };
  for (const field of ['apiGroups', 'resources', 'resourceNames', 'nonResourceURLs']) {
    const list = strings(rule[field]);
    if (list !== undefined) out[field] = list;
  }
  return out;
}

function projectSubject(subject: Json): Json {
  const out: Json = { kind: subject.kind, apiGroup: subject.apiGroup, name: subject.name };
  if (typeof subject.namespace === 'string') out.namespace = subject.namespace;
  return out;
}

function projectRoleRef(ref: unknown): Json {
  return isJson(ref) ? { apiGroup: ref.apiGroup, kind: ref.kind, name: ref.name } : {};
}

export const roles = rbacType('Role', 'roles', true);
export const clusterRoles = rbacType('ClusterRole', 'clusterroles', false);
export const roleBindings = rbacType('RoleBinding', 'rolebindings', true);
export const clusterRoleBindings = rbacType('ClusterRoleBinding', 'clusterrolebindings', false);

export const resourceTypes: readonly ResourceType[] = [namespaces, secrets, configMaps, roles, clusterRoles, roleBindings, clusterRoleBindings];
export const rbacResourceTypes: readonly ResourceType[] = [roles, clusterRoles, roleBindings, clusterRoleBindings];
/** Kinds that live inside a namespace, removed with it. */
export const namespacedResourceTypes: readonly ResourceType[] = resourceTypes.filter((t) => t.namespaced);

export function resourceTypeOf(group: string, resource: string): ResourceType | undefined {
  return resourceTypes.find((t) => t.group === group && t.resource === resource);
}
