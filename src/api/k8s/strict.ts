/**
 * Server-side field validation (`?fieldValidation=Strict`, what kubectl sends by default): a body
 * with a field the kind does not have is refused with 400, as Kubernetes does, instead of the field
 * being dropped silently. Without Strict, unknown fields are dropped (Kubernetes' Ignore). RBAC
 * objects refuse unknown fields always (rbac's validation).
 */
import { RegistryError, type ResourceType } from '../../registry/index.ts';

const metadataFields = new Set([
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
]);

const bodyFields: Record<string, readonly string[]> = {
  Secret: ['data', 'stringData', 'type', 'immutable'],
  ConfigMap: ['data', 'binaryData', 'immutable'],
  Namespace: ['spec', 'status'],
  Role: ['rules'],
  ClusterRole: ['rules', 'aggregationRule'],
  RoleBinding: ['subjects', 'roleRef'],
  ClusterRoleBinding: ['subjects', 'roleRef'],
};

export function checkStrictFields(type: ResourceType, body: unknown): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
  const allowed = new Set(['apiVersion', 'kind', 'metadata', ...(bodyFields[type.kind] ?? [])]);
  const unknown = Object.keys(body).filter((field) => !allowed.has(field)).map((f) => `.${f}`);
  const meta = (body as { metadata?: unknown }).metadata;
  if (typeof meta === 'object' && meta !== null && !Array.isArray(meta)) {
    for (const field of Object.keys(meta)) if (!metadataFields.has(field)) unknown.push(`.metadata.${field}`);
  }
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 10).map((f) => `unknown field ${JSON.stringify(f.slice(0, 128))}`).join(', ');
    throw new RegistryError('BadRequest', `strict decoding error: ${shown}`);
  }
}
