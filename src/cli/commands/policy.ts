/**
 * `coffer policy apply -f FILE_OR_DIR [-n NS]` and `coffer policy list [-n NS]` — RBAC objects
 * (Role, ClusterRole, RoleBinding, ClusterRoleBinding) in the replicated store.
 *
 * apply reads and validates every document with src/rbac before sending anything, so a bad file
 * changes nothing; then it creates each object that does not exist and replaces each that differs
 * (with its resourceVersion, so a concurrent change is a Conflict, retried from a fresh read). Documents
 * of other API groups in a policy directory (the audit policy) are reported as skipped. As in kubectl,
 * objects are applied in file order and one that fails stops the run, earlier ones staying applied.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Command } from 'commander';
import { isK8sApiError, type K8sClient, type K8sObject, type K8sResource } from '../../client/index.ts';
import {
  type PolicyDocument, type RbacObject, rbacApiGroup, rbacResourceOf, readPolicyDocuments, selectRbacObjects,
} from '../../rbac/index.ts';
import type { CliIo } from '../io.ts';
import { formatData, formatTable } from '../options.ts';
import { CliError } from '../errors.ts';
import { age, connectK8s, k8sAction, type K8sCommandOptions } from './k8s-common.ts';

/** Tries of one object's read-compare-write when another writer changes it in between. */
const applyConflictTriesMax = 3;

type Outcome = 'created' | 'configured' | 'unchanged';

export function registerPolicyCommands(program: Command, io: CliIo): void {
  const policy = program.command('policy').description('apply and list RBAC policy (roles, cluster roles and their bindings)');

  policy.command('apply')
    .description('create or update the RBAC objects of a YAML file, or of every *.yaml/*.yml in a directory')
    .requiredOption('-f, --filename <path>', 'a YAML file (several documents allowed) or a directory')
    .option('-n, --namespace <namespace>', 'the namespace of Roles and RoleBindings that name none')
    .action(k8sAction(async (command) => {
      const options = command.optsWithGlobals<K8sCommandOptions & { filename: string; namespace?: string }>();
      const documents = await readPolicyDocuments(options.filename);
      if (options.namespace !== undefined) defaultNamespace(documents, options.namespace);
      const { rbac, others } = selectRbacObjects(documents);
      if (rbac.length === 0) throw new CliError(`${JSON.stringify(options.filename)} holds no RBAC objects`);
      const client = await connectK8s(options, io);
      try {
        for (const object of rbac) {
          const outcome = await applyOne(client, object);
          io.out(`${object.kind.toLowerCase()}.${rbacApiGroup}/${object.metadata.name} ${outcome}\n`);
        }
      } finally {
        client.close();
      }
      for (const other of others) {
        io.out(`skipped ${other.source}: ${String(other.value.apiVersion)} ${String(other.value.kind)} is not an RBAC object\n`);
      }
    }));

  policy.command('list')
    .description('list roles, cluster roles and their bindings')
    .option('-n, --namespace <namespace>', 'only the Roles and RoleBindings of this namespace (cluster-wide objects are always listed)')
    .action(k8sAction(async (command) => {
      const options = command.optsWithGlobals<K8sCommandOptions & { namespace?: string }>();
      const client = await connectK8s(options, io);
      try {
        const scoped = options.namespace === undefined ? {} : { namespace: options.namespace };
        const lists = await Promise.all([
          client.listAll('clusterroles'), client.listAll('clusterrolebindings'), client.listAll('roles', scoped), client.listAll('rolebindings', scoped),
        ]);
        const items = lists.flatMap((list) => list.items);
        io.out(options.output === 'table' ? policyTable(items, Date.now()) : formatData(options.output, { apiVersion: 'v1', kind: 'List', metadata: {}, items }));
      } finally {
        client.close();
      }
    }));
}

/** Fills in the namespace of Roles and RoleBindings that name none (kubectl's -n). */
function defaultNamespace(documents: PolicyDocument[], namespace: string): void {
  for (const { value } of documents) {
    if ((value.kind !== 'Role' && value.kind !== 'RoleBinding') || typeof value.apiVersion !== 'string' || !value.apiVersion.startsWith(`${rbacApiGroup}/`)) continue;
    const metadata = value.metadata;
    if (typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata)) {
      const fields = metadata as Record<string, unknown>;
      if (fields.namespace === undefined || fields.namespace === '') fields.namespace = namespace;
    }
  }
}

/** What apply writes: the validated object's kind-specific fields and its own metadata, nothing server-set. */
function desiredBody(object: RbacObject): K8sObject {
  const { name, namespace, labels, annotations } = object.metadata;
  const metadata = { name, ...(namespace !== undefined ? { namespace } : {}), ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) };
  if (object.kind === 'Role' || object.kind === 'ClusterRole') return { apiVersion: object.apiVersion, kind: object.kind, metadata, rules: object.rules };
  return { apiVersion: object.apiVersion, kind: object.kind, metadata, subjects: object.subjects, roleRef: object.roleRef };
}

/** The fields apply compares: everything it writes except name and namespace. */
function comparable(object: K8sObject): unknown {
  const { labels, annotations } = object.metadata;
  return { labels: labels ?? {}, annotations: annotations ?? {}, rules: object.rules, subjects: object.subjects, roleRef: object.roleRef };
}

async function applyOne(client: K8sClient, object: RbacObject): Promise<Outcome> {
  const resource = rbacResourceOf[object.kind] as K8sResource;
  const namespace = object.metadata.namespace;
  const scope = namespace === undefined ? {} : { namespace };
  const desired = desiredBody(object);
  for (let attempt = 1; ; attempt++) {
    let current: K8sObject | undefined;
    try {
      current = await client.get(resource, object.metadata.name, scope);
    } catch (error) {
      if (!isK8sApiError(error) || error.reason !== 'NotFound') throw error;
    }
    try {
      if (current === undefined) {
        await client.create(resource, desired, scope);
        return 'created';
      }
      if (isDeepStrictEqual(comparable(current), comparable(desired))) return 'unchanged';
      const resourceVersion = current.metadata.resourceVersion;
      await client.update(resource, object.metadata.name, { ...desired, metadata: { ...desired.metadata, ...(resourceVersion ? { resourceVersion } : {}) } }, scope);
      return 'configured';
    } catch (error) {
      const raced = isK8sApiError(error) && (error.reason === 'Conflict' || error.reason === 'AlreadyExists' || error.reason === 'NotFound');
      if (!raced || attempt >= applyConflictTriesMax) throw error;
    }
  }
}

/** KIND, NAMESPACE, NAME, RULES (roles), ROLE and SUBJECTS (bindings), AGE. */
export function policyTable(items: readonly K8sObject[], nowMs: number): string {
  return formatTable(['KIND', 'NAMESPACE', 'NAME', 'RULES', 'ROLE', 'SUBJECTS', 'AGE'], items.map((item) => {
    const rules = Array.isArray(item.rules) ? String(item.rules.length) : '';
    const roleRef = item.roleRef as { kind?: unknown; name?: unknown } | undefined;
    const role = roleRef === undefined ? '' : `${String(roleRef.kind)}/${String(roleRef.name)}`;
    const subjects = Array.isArray(item.subjects)
      ? (item.subjects as { kind?: unknown; name?: unknown }[]).map((s) => `${String(s.kind)}:${String(s.name)}`).join(',')
      : '';
    return [item.kind ?? '', item.metadata.namespace ?? '', item.metadata.name, rules, role, subjects, age(item.metadata.creationTimestamp, nowMs)];
  }));
}
