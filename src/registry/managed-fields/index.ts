/**
 * managed-fields — server-side apply and `metadata.managedFields`, as the Kubernetes API server does
 * them with structured-merge-diff, for the kinds Coffer serves: field sets and FieldsV1 (field-set.ts),
 * the entries as stored and as a client may send them (entries.ts), the tracked view of an object
 * (view.ts), ownership after an Update (track.ts) and the merge, conflicts and pruning of an Apply
 * (apply.ts). Pure: no I/O, no clock (the caller passes the time). What is tracked are field names,
 * never values. What differs from Kubernetes: docs/security.md and the README.
 */
export { FieldSet, type FieldPath, leavesOf, pathString, toFieldsV1 } from './field-set.ts';
export {
  ancientChangesManager, type ClientManagedFields, decodeStored, encodeManagers, fieldManagerErrors, type Manager,
  type Operation, readClientManagedFields, sameManager,
} from './entries.ts';
export { configView, trackedView } from './view.ts';
export { type BlindWrite, nextManagers, type Writer } from './track.ts';
export { applyConfiguration, beforeFirstApplyManager, conflictMessage, managerName, type ApplyConflict, type ApplyOutcome } from './apply.ts';
