/**
 * The schemas of the kinds Coffer serves, with a description for every field, so `kubectl explain`
 * teaches what each field means here (openapi.ts publishes them as OpenAPI v3 and v2). They describe
 * what Coffer accepts and returns — the same wire shape as Kubernetes — and say where Coffer adds to it
 * (encryption at rest, redaction, audit). Invariant: every property carries a description.
 */
import type { ResourceType } from '../../registry/index.ts';

export type Schema = Record<string, unknown>;

/** How a document refers to a named schema: OpenAPI v3 (`#/components/schemas/`) or v2 (`#/definitions/`). */
export interface SchemaRefs {
  prefix: string;
  /** A property that is a named schema, with its own description (v3 wraps the $ref in allOf). */
  property(name: string, description: string): Schema;
}

export const v3Refs: SchemaRefs = {
  prefix: '#/components/schemas/',
  property: (name, description) => ({ allOf: [{ $ref: `#/components/schemas/${name}` }], description }),
};

export const v2Refs: SchemaRefs = {
  prefix: '#/definitions/',
  property: (name, description) => ({ $ref: `#/definitions/${name}`, description }),
};

const meta = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const objectMetaName = `${meta}.ObjectMeta`;
const ownerReferenceName = `${meta}.OwnerReference`;
const managedFieldsEntryName = `${meta}.ManagedFieldsEntry`;
const policyRuleName = 'io.k8s.api.rbac.v1.PolicyRule';
const subjectName = 'io.k8s.api.rbac.v1.Subject';
const roleRefName = 'io.k8s.api.rbac.v1.RoleRef';
const namespaceSpecName = 'io.k8s.api.core.v1.NamespaceSpec';
const namespaceStatusName = 'io.k8s.api.core.v1.NamespaceStatus';

const text = (description: string): Schema => ({ type: 'string', description });
const flag = (description: string): Schema => ({ type: 'boolean', description });
const texts = (description: string): Schema => ({ type: 'array', items: { type: 'string' }, description });
const textMap = (description: string): Schema => ({ type: 'object', additionalProperties: { type: 'string' }, description });
const list = (refs: SchemaRefs, name: string, description: string): Schema => ({ type: 'array', items: { $ref: `${refs.prefix}${name}` }, description });

export function kindSchemaName(type: ResourceType): string {
  return type.group === '' ? `io.k8s.api.core.v1.${type.kind}` : `io.k8s.api.rbac.v1.${type.kind}`;
}

const kindDescriptions: Record<string, string> = {
  Secret: 'A named set of sensitive values (passwords, tokens, keys). Coffer encrypts every value at rest with envelope keys, keeps earlier versions (coffer.dev/v1 secrets/versions), and shows values only to callers allowed to get the Secret by name; everyone else sees a copy without data.',
  ConfigMap: 'A named set of non-confidential configuration values, as text (data) or bytes (binaryData). Stored encrypted like everything Coffer writes.',
  Namespace: 'A scope for names: Secrets, ConfigMaps, Roles and RoleBindings live in a namespace. Deleting one marks it Terminating, deletes what it holds, then removes it.',
  Role: 'A set of permissions (rules) inside one namespace. A Role grants nothing until a RoleBinding binds it to users or groups.',
  ClusterRole: 'A set of permissions (rules) valid in every namespace, or on cluster-scoped kinds and non-resource URLs. Granted by a ClusterRoleBinding, or inside one namespace by a RoleBinding.',
  RoleBinding: 'Grants the rules of a Role or ClusterRole to users and groups inside this binding\'s namespace.',
  ClusterRoleBinding: 'Grants the rules of a ClusterRole to users and groups in every namespace.',
};

function kindProperties(type: ResourceType, refs: SchemaRefs): Schema {
  switch (type.kind) {
    case 'Secret': return {
      data: textMap('Keys and their values, base64-encoded. Keys are made of letters, digits, "-", "_" and "."; the total size is limited. Omitted in answers to callers who may list but not get the Secret.'),
      stringData: textMap('Write-only convenience: values as plain text, merged into data (winning over data on the same key) when written. Never returned.'),
      type: text('How the data is meant to be used (Opaque when not set, kubernetes.io/tls, kubernetes.io/dockerconfigjson, ...). The type of an existing Secret cannot change.'),
      immutable: flag('When true, data cannot change any more; the Secret can only be deleted. Cannot be set back to false.'),
    };
    case 'ConfigMap': return {
      data: textMap('Configuration values as UTF-8 text, by key.'),
      binaryData: textMap('Configuration values that are not UTF-8 text, base64-encoded, by key. A key may not appear in both data and binaryData.'),
      immutable: flag('When true, data and binaryData cannot change any more; the ConfigMap can only be deleted.'),
    };
    case 'Namespace': return {
      spec: refs.property(namespaceSpecName, 'What the namespace should be.'),
      status: refs.property(namespaceStatusName, 'What the namespace is: Active, or Terminating while its contents are deleted.'),
    };
    case 'Role': case 'ClusterRole': return {
      rules: list(refs, policyRuleName, 'The permissions this role holds. Rules only allow; anything no rule allows is denied.'),
    };
    default: return {
      subjects: list(refs, subjectName, 'Who is granted the role: users (a client certificate\'s common name) and groups (its organization values).'),
      roleRef: refs.property(roleRefName, 'The role granted. Cannot change once the binding exists: delete and create the binding instead.'),
    };
  }
}

function kindSchema(type: ResourceType, refs: SchemaRefs): Schema {
  return {
    type: 'object',
    description: kindDescriptions[type.kind] ?? '',
    properties: {
      apiVersion: text(`The versioned schema of this representation: ${type.apiVersion}.`),
      kind: text(`The kind of object: ${type.kind}.`),
      metadata: refs.property(objectMetaName, 'Standard object metadata: name, namespace, labels, annotations, and what the server sets (uid, resourceVersion, creationTimestamp).'),
      ...kindProperties(type, refs),
    },
    'x-kubernetes-group-version-kind': [{ group: type.group, version: 'v1', kind: type.kind }],
  };
}

function sharedSchemas(refs: SchemaRefs): Record<string, Schema> {
  return { ...metadataSchemas(refs), ...namespaceSchemas(), ...rbacSchemas() };
}

/** ObjectMeta and the parts of it that are objects of their own. */
function metadataSchemas(refs: SchemaRefs): Record<string, Schema> {
  return {
    [objectMetaName]: {
      type: 'object',
      description: 'Metadata every stored object has.',
      properties: {
        name: text('Unique within the namespace (or the cluster, for cluster-scoped kinds). Cannot change.'),
        generateName: text('On create without a name: a prefix to which the server appends a random suffix to make a unique name.'),
        namespace: text('The namespace the object lives in. Empty for cluster-scoped kinds.'),
        uid: text('Unique across time, set by the server on create. Two objects with the same name at different times have different uids.'),
        resourceVersion: text('An opaque version that changes on every write (Coffer\'s store revision). Send it back on update to refuse the write (409 Conflict) if the object changed meanwhile; use it to watch from a point.'),
        creationTimestamp: { type: 'string', format: 'date-time', description: 'When the object was created (RFC 3339, UTC). Set by the server.' },
        deletionTimestamp: { type: 'string', format: 'date-time', description: 'Set when a delete waits on finalizers: the object is gone once the last finalizer is removed.' },
        deletionGracePeriodSeconds: { type: 'integer', format: 'int64', description: 'Set with deletionTimestamp: the grace period the delete was given.' },
        labels: textMap('Keys and values to select objects by (label selectors).'),
        annotations: textMap('Keys and values for tools and people; not used to select objects.'),
        finalizers: texts('Names that must each be removed (by whatever added them) before a deleted object goes away.'),
        ownerReferences: list(refs, ownerReferenceName, 'Objects this object depends on. When an owner is deleted, its dependents are deleted too (unless the delete orphans them).'),
        managedFields: list(refs, managedFieldsEntryName, 'Which manager (field manager) last set which fields, and how (Apply or Update). Lists field names only, never values.'),
      },
    },
    [ownerReferenceName]: {
      type: 'object',
      description: 'Names an object that owns this one.',
      required: ['apiVersion', 'kind', 'name', 'uid'],
      properties: {
        apiVersion: text('The owner\'s API version.'),
        kind: text('The owner\'s kind.'),
        name: text('The owner\'s name, in the same namespace as this object.'),
        uid: text('The owner\'s uid: an owner recreated under the same name is a different owner.'),
        controller: flag('True if the owner is this object\'s managing controller (at most one owner may say so).'),
        blockOwnerDeletion: flag('True if a foreground delete of the owner waits for this object to be deleted first.'),
      },
    },
    [managedFieldsEntryName]: {
      type: 'object',
      description: 'The fields one manager set with one kind of operation.',
      properties: {
        manager: text('Who set the fields: the fieldManager of the requests, or the client\'s name.'),
        operation: text('Apply (server-side apply) or Update (any other write).'),
        apiVersion: text('The API version the fields are named in.'),
        time: { type: 'string', format: 'date-time', description: 'When this entry last changed.' },
        fieldsType: text('The format of fieldsV1: FieldsV1.'),
        fieldsV1: { type: 'object', description: 'The set of fields, as a tree of "f:<name>" entries.' },
        subresource: text('The subresource the writes went through, if any.'),
      },
    },
  };
}

/** A Namespace's spec and status. */
function namespaceSchemas(): Record<string, Schema> {
  return {
    [namespaceSpecName]: {
      type: 'object',
      description: 'What a namespace should be.',
      properties: { finalizers: texts('Names that must be removed before the namespace is deleted for good.') },
    },
    [namespaceStatusName]: {
      type: 'object',
      description: 'What a namespace is.',
      properties: { phase: text('Active, or Terminating while a delete empties it.') },
    },
  };
}

/** The parts of RBAC objects: rules, subjects, role references. */
function rbacSchemas(): Record<string, Schema> {
  return {
    [policyRuleName]: {
      type: 'object',
      description: 'One permission: verbs on resources of API groups (optionally only some names), or verbs on non-resource URLs.',
      required: ['verbs'],
      properties: {
        verbs: texts('What may be done: get, list, watch, create, update, patch, delete, deletecollection, impersonate, or "*" for all.'),
        apiGroups: texts('API groups of the resources ("" is the core group of Secrets, ConfigMaps and Namespaces; "*" is all).'),
        resources: texts('Resources, optionally with a subresource ("secrets", "secrets/versions"); "*" is all.'),
        resourceNames: texts('Only these object names; empty is any name.'),
        nonResourceURLs: texts('Paths that are not resources (/healthz, /metrics, /version); ClusterRoles only. A trailing "*" matches a prefix.'),
      },
    },
    [subjectName]: {
      type: 'object',
      description: 'A user or group a binding grants its role to.',
      required: ['kind', 'name'],
      properties: {
        kind: text('User or Group.'),
        apiGroup: text('rbac.authorization.k8s.io for User and Group.'),
        name: text('The user (a client certificate\'s common name) or the group (one of its organization values).'),
        namespace: text('Not used for users and groups.'),
      },
    },
    [roleRefName]: {
      type: 'object',
      description: 'The role a binding grants.',
      required: ['apiGroup', 'kind', 'name'],
      properties: {
        apiGroup: text('rbac.authorization.k8s.io.'),
        kind: text('Role (RoleBindings only, in the same namespace) or ClusterRole.'),
        name: text('The role\'s name.'),
      },
    },
  };
}

/** The schemas a document of these kinds needs: each kind, and the shared ones they refer to. */
export function schemasFor(types: readonly ResourceType[], refs: SchemaRefs): Record<string, Schema> {
  return { ...sharedSchemas(refs), ...Object.fromEntries(types.map((type) => [kindSchemaName(type), kindSchema(type, refs)])) };
}
