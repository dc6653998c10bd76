/**
 * `metadata.managedFields`: one entry per manager and operation — `{manager, operation: Apply|Update,
 * apiVersion, time, fieldsType: FieldsV1, fieldsV1}` — as stored and shown, and as a client may send
 * them back (validated here; a client may also clear them with a single empty entry, as in Kubernetes).
 * A manager that applies and also updates has two entries. Update entries beyond
 * managedFieldsUpdateManagersMax are merged, oldest first, into one named `ancient-changes`, as the API
 * server does.
 */
import { fieldManagerLengthMax, managedFieldsManagersMax, managedFieldsUpdateManagersMax } from '../../config/index.ts';
import type { StatusCause } from '../errors.ts';
import type { ManagedFieldsEntry } from '../object.ts';
import { FieldSet, fromFieldsV1, toFieldsV1 } from './field-set.ts';

export type Operation = ManagedFieldsEntry['operation'];

/** One manager's ownership, decoded. */
export interface Manager {
  manager: string;
  operation: Operation;
  time: string;
  fields: FieldSet;
}

/** What a client's metadata.managedFields asks for: keep the stored ones, clear them, or use these. */
export type ClientManagedFields = { kind: 'keep' } | { kind: 'reset' } | { kind: 'set'; managers: Manager[] };

/** The name Kubernetes gives the merged oldest Update managers. */
export const ancientChangesManager = 'ancient-changes';

export function sameManager(a: Pick<Manager, 'manager' | 'operation'>, b: Pick<Manager, 'manager' | 'operation'>): boolean {
  return a.manager === b.manager && a.operation === b.operation;
}

/** Why a field manager name is refused, as Kubernetes checks it: at most 128 printable characters. */
export function fieldManagerErrors(name: string): string[] {
  const errors: string[] = [];
  if ([...name].length > fieldManagerLengthMax) errors.push(`Too long: may not be more than ${fieldManagerLengthMax} characters`);
  const bad = [...name].findIndex((c) => !isPrintable(c));
  if (bad >= 0) errors.push(`Invalid value: invalid character at position ${bad}: must be printable`);
  return errors;
}

function isPrintable(c: string): boolean {
  return !/[\p{C}\p{Zl}\p{Zp}]/u.test(c) && (c === ' ' || !/\s/u.test(c));
}

/** Decodes stored entries (written by the registry; anything else in them is ignored). */
export function decodeStored(value: unknown): Manager[] {
  if (!Array.isArray(value)) return [];
  const out: Manager[] = [];
  for (const entry of value) {
    const read = readEntry(entry);
    if ('manager' in read) out.push(read);
  }
  return out;
}

/** Reads metadata.managedFields as a client sent them, a cause per problem. */
export function readClientManagedFields(value: unknown, apiVersion: string, causes: StatusCause[]): ClientManagedFields {
  if (value === undefined || value === null) return { kind: 'keep' };
  if (!Array.isArray(value)) {
    causes.push({ field: 'metadata.managedFields', message: 'must be a list', reason: 'FieldValueInvalid' });
    return { kind: 'keep' };
  }
  // An empty list cannot be told from an absent one (Kubernetes keeps them); a single empty entry clears them.
  if (value.length === 0) return { kind: 'keep' };
  if (value.length === 1 && typeof value[0] === 'object' && value[0] !== null && Object.keys(value[0] as object).length === 0) return { kind: 'reset' };
  if (value.length > managedFieldsManagersMax) {
    causes.push({ field: 'metadata.managedFields', message: `Too many: ${value.length}: must have at most ${managedFieldsManagersMax} items`, reason: 'FieldValueTooMany' });
    return { kind: 'keep' };
  }
  const managers: Manager[] = [];
  value.forEach((entry: unknown, i) => {
    const read = readEntry(entry, apiVersion);
    if ('problem' in read) {
      causes.push({ field: `metadata.managedFields[${i}]${read.field}`, message: read.problem, reason: 'FieldValueInvalid' });
      return;
    }
    if (managers.some((m) => sameManager(m, read))) {
      causes.push({ field: `metadata.managedFields[${i}]`, message: `Duplicate value: manager ${JSON.stringify(read.manager)} with operation ${read.operation}`, reason: 'FieldValueDuplicate' });
      return;
    }
    managers.push(read);
  });
  return { kind: 'set', managers };
}

function readEntry(entry: unknown, apiVersion?: string): Manager | { field: string; problem: string } {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return { field: '', problem: 'must be an object' };
  const e = entry as Record<string, unknown>;
  if (typeof e.manager !== 'string') return { field: '.manager', problem: 'Required value' };
  const nameErrors = fieldManagerErrors(e.manager);
  if (nameErrors.length > 0) return { field: '.manager', problem: nameErrors[0]! };
  if (e.operation !== 'Apply' && e.operation !== 'Update') return { field: '.operation', problem: 'Unsupported value: must be "Apply" or "Update"' };
  if (apiVersion !== undefined && e.apiVersion !== apiVersion) return { field: '.apiVersion', problem: `Unsupported value: must be ${JSON.stringify(apiVersion)}` };
  if (e.fieldsType !== 'FieldsV1') return { field: '.fieldsType', problem: 'Unsupported value: must be "FieldsV1"' };
  if (e.subresource !== undefined && e.subresource !== '') return { field: '.subresource', problem: 'Unsupported value: Coffer records no subresource managers' };
  const sent = e.time === undefined || e.time === null ? '' : e.time;
  const time = typeof sent === 'string' ? /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?Z$/.exec(sent) : null;
  if (sent !== '' && time === null) return { field: '.time', problem: 'Invalid value: must be an RFC 3339 UTC time' };
  const fields = fromFieldsV1(e.fieldsV1 ?? {});
  if ('problem' in fields) return { field: '.fieldsV1', problem: `Invalid value: ${fields.problem}` };
  // Whole seconds, as stored: a client that sends the time back with milliseconds (client-node) changes nothing.
  return { manager: e.manager, operation: e.operation, time: time === null ? '' : `${time[1]}Z`, fields: fields.set };
}

/**
 * The entries to store: empty managers dropped, Update managers past the cap merged into
 * `ancient-changes` (oldest first), order kept. Undefined when nothing is owned.
 */
export function encodeManagers(managers: readonly Manager[], apiVersion: string): ManagedFieldsEntry[] | undefined {
  let kept = managers.filter((m) => m.fields.size > 0);
  const updates = kept.filter((m) => m.operation === 'Update' && m.manager !== ancientChangesManager);
  if (updates.length > managedFieldsUpdateManagersMax) {
    const oldest = [...updates].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0)).slice(0, updates.length - managedFieldsUpdateManagersMax + 1);
    const previous = kept.find((m) => m.operation === 'Update' && m.manager === ancientChangesManager);
    const merged: Manager = {
      manager: ancientChangesManager, operation: 'Update', time: oldest[oldest.length - 1]!.time,
      fields: oldest.reduce((set, m) => set.union(m.fields), previous?.fields ?? new FieldSet()),
    };
    kept = [merged, ...kept.filter((m) => !oldest.includes(m) && m !== previous)];
  }
  if (kept.length === 0) return undefined;
  return kept.map((m) => ({ manager: m.manager, operation: m.operation, apiVersion, time: m.time, fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(m.fields) }));
}
