/**
 * kubectl's table view: when a GET asks for `as=Table` in Accept (negotiation.ts), lists (and watch events) are
 * answered as meta.k8s.io/v1 Tables with the columns `kubectl get` prints for each kind. Each row
 * carries the object's metadata (PartialObjectMetadata), or the whole object as the response would
 * show it when the request says includeObject=Object.
 */
import type { Json, ResourceType, VersionedObject } from '../../registry/index.ts';
import { partialObjectMetadata } from './negotiation.ts';

interface Column { name: string; type: string; format: string; description: string; priority: number }

const nameColumn: Column = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 };
const ageColumn: Column = { name: 'Age', type: 'string', format: '', description: 'Time since the object was created.', priority: 0 };

function columns(type: ResourceType): Column[] {
  switch (type.kind) {
    case 'Secret': return [nameColumn, { name: 'Type', type: 'string', format: '', description: 'Secret type', priority: 0 }, { name: 'Data', type: 'integer', format: '', description: 'Number of keys', priority: 0 }, ageColumn];
    case 'ConfigMap': return [nameColumn, { name: 'Data', type: 'integer', format: '', description: 'Number of keys', priority: 0 }, ageColumn];
    case 'Namespace': return [nameColumn, { name: 'Status', type: 'string', format: '', description: 'Phase', priority: 0 }, ageColumn];
    case 'RoleBinding': case 'ClusterRoleBinding': return [nameColumn, { name: 'Role', type: 'string', format: '', description: 'The role bound', priority: 0 }, ageColumn, ...bindingWideColumns];
    default: return [nameColumn, ageColumn];
  }
}

function cells(type: ResourceType, presented: Json, nowMs: number): unknown[] {
  const meta = presented.metadata as { name: string; creationTimestamp?: string };
  const age = humanAge(nowMs - Date.parse(meta.creationTimestamp ?? ''));
  const count = (v: unknown) => (typeof v === 'object' && v !== null ? Object.keys(v).length : 0);
  switch (type.kind) {
    case 'Secret': return [meta.name, presented.type ?? '', count(presented.data), age];
    case 'ConfigMap': return [meta.name, count(presented.data) + count(presented.binaryData), age];
    case 'Namespace': return [meta.name, 'Active', age];
    case 'RoleBinding': case 'ClusterRoleBinding': {
      const ref = presented.roleRef as { kind?: string; name?: string } | undefined;
      return [meta.name, `${ref?.kind ?? ''}/${ref?.name ?? ''}`, age, ...subjectCells(presented.subjects)];
    }
    default: return [meta.name, age];
  }
}

/** `-o wide` columns of bindings (priority 1: shown only wide), as the API server prints them. */
const bindingWideColumns: Column[] = [
  { name: 'Users', type: 'string', format: '', description: 'Users in the binding', priority: 1 },
  { name: 'Groups', type: 'string', format: '', description: 'Groups in the binding', priority: 1 },
  { name: 'ServiceAccounts', type: 'string', format: '', description: 'ServiceAccounts in the binding', priority: 1 },
];

/**
 * Users and groups, each joined with ", " as Kubernetes' SubjectsStrings; the ServiceAccounts column
 * stays empty, since Coffer's subjects are only users and groups (rbac/validate.ts refuses the rest).
 */
function subjectCells(subjects: unknown): string[] {
  const named = (kind: string) => (Array.isArray(subjects) ? subjects as { kind?: string; name?: string }[] : [])
    .filter((s) => s.kind === kind).map((s) => s.name ?? '').join(', ');
  return [named('User'), named('Group'), ''];
}

export function humanAge(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '<unknown>';
  const s = Math.floor(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

export interface TableOptions {
  /** meta.k8s.io/v1 or meta.k8s.io/v1beta1, as the request asked. */
  apiVersion: string;
  includeObject: boolean;
  nowMs: number;
  resourceVersion: string;
  continueToken?: string;
  /** Leave out columnDefinitions (watch events after the first, as Kubernetes does). */
  withoutColumns?: boolean;
}

/** `items` are objects as the response would show them (already redacted where needed). */
export function toTable(type: ResourceType, items: readonly { versioned: VersionedObject; presented: Json }[], options: TableOptions): Json {
  return {
    kind: 'Table', apiVersion: options.apiVersion,
    metadata: { resourceVersion: options.resourceVersion, ...(options.continueToken ? { continue: options.continueToken } : {}) },
    columnDefinitions: options.withoutColumns ? [] : columns(type),
    rows: items.map(({ presented }) => ({
      cells: cells(type, presented, options.nowMs),
      object: options.includeObject ? presented : partialObjectMetadata(presented, options.apiVersion),
    })),
  };
}
