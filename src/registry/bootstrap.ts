/**
 * A cluster's first start: the namespaces `default` and `coffer-system`, and the default RBAC
 * policies. Safe to run on every member at every start, concurrently: each namespace is one
 * create-if-absent txn, and the policies are one txn guarded by a marker key written with them, so
 * they are loaded exactly once in a cluster's life — and only if no RBAC object exists by then
 * (objects loaded some other way are never mixed with defaults). Deleting a default role later
 * does not bring it back at the next start.
 */
import { txnOpsMax } from '../config/index.ts';
import type { RbacObject } from '../rbac/index.ts';
import { invalidError, type StatusCause } from './errors.ts';
import { objectKey, listPrefix, rbacBootstrapMarker, textKey } from './keys.ts';
import type { RegistryKv } from './kv.ts';
import type { StoredObject } from './object.ts';
import { protectedNamespaces } from './registry.ts';
import { namespaces, rbacResourceTypes, resourceTypeOf } from './resources.ts';
import { prefixEnd, type TxnOp, type TxnResponse } from '../storage/mvcc/index.ts';
import { randomUUID } from 'node:crypto';

const encoder = new TextEncoder();

export interface BootstrapResult {
  /** Namespaces this call created (others existed). */
  createdNamespaces: string[];
  /** Whether this call loaded the default policies. */
  loadedPolicies: boolean;
}

export async function bootstrapRegistry(kv: RegistryKv, policies: readonly RbacObject[], nowMs: number = Date.now()): Promise<BootstrapResult> {
  const created = timestampOf(nowMs);
  const createdNamespaces: string[] = [];
  for (const name of protectedNamespaces) {
    const key = objectKey(namespaces, undefined, name);
    const stored: StoredObject = {
      apiVersion: 'v1', kind: 'Namespace',
      metadata: { name, uid: randomUUID(), creationTimestamp: created },
      ...namespaces.body({}, [], { name, namespace: undefined }),
    };
    const result = await kv.propose({
      type: 'txn',
      compare: [{ key, target: 'createRevision', result: 'equal', value: 0 }],
      success: [{ type: 'put', key, value: encoder.encode(JSON.stringify(stored)) }],
      failure: [],
    }) as TxnResponse;
    if (result.succeeded) createdNamespaces.push(name);
  }

  const marker = textKey(rbacBootstrapMarker);
  const markerRead = await kv.range(marker, undefined, { linearizable: true, countOnly: true });
  if (markerRead.count > 0) return { createdNamespaces, loadedPolicies: false };
  let existing = 0;
  for (const type of rbacResourceTypes) {
    const prefix = listPrefix(type, undefined);
    existing += (await kv.range(prefix, prefixEnd(prefix), { linearizable: true, countOnly: true })).count;
  }
  const puts: TxnOp[] = existing > 0 ? [] : policies.map((object) => toPut(object, created));
  if (puts.length + 1 > txnOpsMax) throw new Error(`the default policies hold ${puts.length} objects; one bootstrap txn takes at most ${txnOpsMax - 1}`);
  const result = await kv.propose({
    type: 'txn',
    compare: [{ key: marker, target: 'createRevision', result: 'equal', value: 0 }],
    success: [{ type: 'put', key: marker, value: encoder.encode(JSON.stringify({ loadedAt: created, objects: puts.length })) }, ...puts],
    failure: [],
  }) as TxnResponse;
  return { createdNamespaces, loadedPolicies: result.succeeded && puts.length > 0 };
}

function toPut(object: RbacObject, created: string): TxnOp {
  const type = resourceTypeOf('rbac.authorization.k8s.io', { Role: 'roles', ClusterRole: 'clusterroles', RoleBinding: 'rolebindings', ClusterRoleBinding: 'clusterrolebindings' }[object.kind]);
  if (type === undefined) throw new Error(`no resource type for ${object.kind}`);
  const name = object.metadata.name;
  const namespace = type.namespaced ? object.metadata.namespace : undefined;
  const causes: StatusCause[] = [];
  const content = type.body(object as unknown as Record<string, unknown>, causes, { name, namespace });
  if (causes.length > 0) throw invalidError(type.kind, name, type.group, causes);
  const labels = object.metadata.labels;
  const annotations = object.metadata.annotations;
  const stored: StoredObject = {
    apiVersion: type.apiVersion, kind: type.kind,
    metadata: {
      name, ...(namespace !== undefined ? { namespace } : {}), uid: randomUUID(), creationTimestamp: created,
      ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}),
    },
    ...content,
  };
  return { type: 'put', key: objectKey(type, namespace, name), value: encoder.encode(JSON.stringify(stored)) };
}

function timestampOf(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
