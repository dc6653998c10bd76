/**
 * registry — the API server's storage half: Namespaces, Secrets, ConfigMaps and RBAC objects as
 * typed records over the replicated KV (`/registry/<resource>/[<namespace>/]<name>`, value = the
 * object's JSON), with Kubernetes' semantics: resourceVersion = mod revision, optimistic concurrency
 * by txn compares, validation with field causes, label/field selectors, consistent paged lists,
 * watch, namespace deletion in one txn, and the first-start bootstrap. Secrets also keep numbered
 * versions with a pending stage for two-phase rotation (versions.ts), server-side value generation
 * (generate.ts) and the due-time decision of scheduled rotation (scheduled-rotation.ts). Every write
 * records its field manager in metadata.managedFields, and server-side apply merges by field ownership
 * (managed-fields/).
 *
 * Invariants: nothing is stored unless built from validated, allowlisted fields; every write is a
 * single txn; a response is built by `present` from known fields only; Secret values never appear
 * in an error message.
 */
export { RegistryError, invalidError, isRegistryError, type RegistryErrorCode, type StatusCause, type StatusDetails } from './errors.ts';
export { arrivingMapCauses } from './map-entries.ts';
export type { RegistryKv } from './kv.ts';
export type { Json, ObjectMeta, StoredObject, VersionedObject } from './object.ts';
export {
  type ResourceType, resourceTypes, rbacResourceTypes, resourceTypeOf, secrets, configMaps, namespaces, roles, clusterRoles,
  roleBindings, clusterRoleBindings,
} from './resources.ts';
export {
  Registry, present, parseRevision, protectedNamespaces, notFound, internalFieldManager, type ApplyRequest, type ListOptions, type ListResult, type RegistryOptions,
  type WriteGuard, type WriteOptions,
  type DeleteOptions, type DeleteResult, type MayDelete, type PropagationPolicy, propagationPolicies,
} from './registry.ts';
export { parseLabelSelector, parseFieldSelector, matchesLabels, type LabelSelector, type FieldSelector } from './selectors.ts';
export { watchObjects, type RegistryEvent, type RegistryEventType, type RegistryWatch, type WatchRequest } from './watch.ts';
export { fieldManagerErrors } from './managed-fields/index.ts';
export { embeddingAnnotations, isHiddenSecretPath, isInsideHiddenSecretValue } from './hidden-fields.ts';
export { bootstrapRegistry, type BootstrapResult } from './bootstrap.ts';
export { registryPrefix, listPrefix, decodeObjectValue } from './public-keys.ts';
export {
  maxVersionsAnnotation, findVersion, dataOf, pendingData, stageOf, type PendingStage, type SecretVersion, type VersionHistory, type VersionStage,
} from './versions.ts';
export { checkGenerateSpec, generateValues, generateCharsets, parseGenerateList, type GenerateSpec } from './generate.ts';
export {
  rotateEveryAnnotation, rotateGenerateAnnotation, parseDuration, checkRotations, dueRotations, rotationScheduleOf, type AheadVersion, type DueRotation,
  type RotationCheck, type RotationSchedule,
} from './scheduled-rotation.ts';
