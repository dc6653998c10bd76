/**
 * The registry: typed objects over the replicated KV with Kubernetes' semantics.
 *
 * - create: one txn that requires the key to be absent and, for namespaced kinds, the namespace at
 *   the revision read and not marked for deletion — so nothing is created in a namespace being deleted;
 *   generateName picks a new name on a collision, up to generateNameAttemptsMax times;
 * - update and patch: read, build, then one txn comparing the key's mod revision with the one read
 *   (optimistic concurrency). A request carrying a resourceVersion that is not current → Conflict;
 *   one without is retried up to updateRetriesMax times (Kubernetes' unconditional update). A result
 *   equal to the stored object writes nothing;
 * - apply (server-side apply): create when absent, else a replace whose body is the configuration merged
 *   by field ownership (managed-fields/apply.ts); every create and replace sets metadata.managedFields
 *   from the write's field manager (managed-fields/track.ts);
 * - delete: an object with finalizers is marked (deletionTimestamp) and goes with its last finalizer;
 *   otherwise it goes in one txn with its Secret versions and owner index entries (owners.ts), and its
 *   dependents are treated by the propagationPolicy, never beyond what the caller may delete;
 * - delete of a namespace: marked first (Terminating), then emptied in batches of compared objects; the
 *   last batch deletes every namespaced kind's prefix and the namespace once no finalizer holds anything;
 * - list: pages of at most `limit` objects and listPageBytesMax bytes (at least one object), all at the
 *   revision of the first page; the continue token carries that revision and the next key, so later
 *   pages see the same snapshot. A page that ends at the byte limit has a continue token even when the
 *   caller gave no `limit`: callers that want the whole list follow it.
 *
 * - Secrets: their version history (versions.ts) is written, and deleted, in the same txn as the
 *   Secret — except a stage (two-phase rotation), which writes the history alone; so every txn that
 *   writes a Secret's history compares the mod revisions of both keys.
 * - Scheduled rotation (scheduled-rotation.ts): dueSecretRotations finds due Secrets, rotateDue
 *   rotates one only if it is still at the revision it was found due at (no retry).
 *
 * Invariants: stored objects are built only from validated fields (object.ts); resourceVersion is
 * the mod revision, never stored; uid and creationTimestamp are set once, on create.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { assert } from '../base/index.ts';
import {
  continueTokenBytesMax, generatedNamePrefixMax, generatedNameSuffixLength, generateNameAttemptsMax, listPageBytesMax, listPageItemsMax, listScanStepKeys, listTooLargeRetryAfterSeconds,
  managedFieldsApplyManagersMax, managedFieldsBytesMax, namespaceDeleteBatchObjects, txnOpsMax, updateRetriesMax, valueBytesMax,
} from '../config/index.ts';
import { isMvccError, pageChargeOf, prefixEnd, type KeyValue, type ReadAccount, type TxnRequest, type TxnResponse } from '../storage/mvcc/index.ts';
import { equalValues } from './equal-values.ts';
import { evaluateWithoutWriting } from './dry-run.ts';
import { hiddenSecretFieldsOf, isHiddenSecretField, mayHoldHiddenSecretField, withoutHiddenSecretFields } from './hidden-fields.ts';
import { invalidError, RegistryError, type StatusCause } from './errors.ts';
import { objectKey, listPrefix, textKey } from './keys.ts';
import { arrivingMapCauses, storedMapCauses } from './map-entries.ts';
import type { RegistryKv } from './kv.ts';
import {
  applyConfiguration, type BlindWrite, type ClientManagedFields, configView, conflictMessage, decodeStored, encodeManagers, FieldSet, leavesOf,
  managerName, nextManagers, type Operation, pathString, readClientManagedFields, trackedView,
} from './managed-fields/index.ts';
import { isJson, type ManagedFieldsEntry, type OwnerReference, projectMeta, readClientMeta, type Json, type ObjectMeta, type StoredObject, type VersionedObject } from './object.ts';
import { type Dependent, dependentOf, type DependentRef, dependentsPrefix, isDependentOf, type Owner, ownerIndexOps, ownerNamedBy, ownerOf, ownerScopeCauses, ownersNewlyNamed, ownerTypeOf, refersTo } from './owners.ts';
import { namespaces, namespacedResourceTypes, secrets, type ResourceType } from './resources.ts';
import { matchesFields, matchesLabels, type FieldSelector, type LabelSelector } from './selectors.ts';
import { generateValues } from './generate.ts';
import { checkRotations, type DueRotation, type RotationCheck, rotationScheduleOf } from './scheduled-rotation.ts';
import { alternativeKeys, holdsOneOf } from './secret.ts';
import { dataOf, decodeHistory, encodeHistory, nextHistory, versionsKey, versionsNamespacePrefix, type VersionHistory } from './versions.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Namespaces that always exist and may not be deleted. */
export const protectedNamespaces: readonly string[] = ['default', 'coffer-system'];

export interface RegistryOptions {
  /** Seams for tests; default node:crypto's randomUUID and the wall clock. */
  newUid?: () => string;
  nowMs?: () => number;
}

/** Who makes a write: recorded on the Secret version it creates (versions.ts). */
export interface WriteOptions {
  actor?: string;
  /**
   * Kubernetes' `dryRun=All`: validated, guarded and answered as if done, against the current state
   * (dry-run.ts), and nothing written — no revision consumed, no watch event. A dry-run create answers
   * without a resourceVersion; a dry-run update answers with the object's current one.
   */
  dryRun?: boolean;
  /** The manager metadata.managedFields records for the fields this write sets (internalFieldManager when absent). */
  fieldManager?: string;
  /**
   * The caller may not read the object's values (a Secret it may not get). Nothing the write does may
   * then depend on whether a value it sent equals the stored one: an immutable Secret refuses the write
   * whatever it sends; a write that changes nothing still writes (a new resourceVersion and a new
   * version); a server-side apply decides conflicts without comparing values (managed-fields/apply.ts);
   * any other write may not set managedFields (refuseBlindManagedFields) and owns every hidden field it
   * sets, equal to the stored value or not (blindWrite, managed-fields/track.ts); and the
   * managedFieldsBytesMax refusal names no byte count.
   */
  valueBlind?: boolean;
  /**
   * Where the reads a write makes of its own object (the current object and a Secret's versions, of its
   * last attempt; a deletecollection's first page, until its results are taken) are charged: the client's
   * account. What a write reaches beyond its object (a cascade's dependents, a namespace's contents) is not.
   */
  account?: ReadAccount;
  /**
   * The caller's right to name an object as an owner (Kubernetes' OwnerReferencesPermissionEnforcement
   * asks it of blockOwnerDeletion; here every followed reference blocks): a write adding a reference a
   * cascade would follow is refused (403) unless this holds for the owner it names. Absent: the
   * registry's own writes.
   */
  mayNameOwner?: MayDelete;
}

/** The field manager of the registry's own writes (garbage collection, scheduled rotation) when none is named. */
export const internalFieldManager = 'coffer';

/** A server-side apply: who applies, whether it takes fields other managers own, and the checks the API adds. */
export interface ApplyRequest {
  manager: string;
  /** `force=true`: take conflicting fields from their managers instead of refusing (409). */
  force: boolean;
  /** Called before the object is created (it was absent); throws to refuse (creating needs the create right). */
  authorizeCreate?: () => void;
}

export interface DeleteOptions extends WriteOptions {
  /** The precondition: the object must be at this resourceVersion. */
  resourceVersion?: string;
  /**
   * The precondition: the object must have this uid — so a delete meant for an object that was deleted and
   * recreated under its name since (client-go sends it) does not delete the new one: Conflict (uidConflict).
   */
  uid?: string;
  /**
   * What happens to the objects whose ownerReferences name the deleted one (default Background):
   * Background deletes them after it, Foreground before it (the owner is marked, held by the
   * foregroundDeletion finalizer, until they are gone), Orphan removes the reference and keeps them.
   */
  propagationPolicy?: PropagationPolicy;
  /**
   * The caller's right to delete an object; a cascade reaching one it may not delete is refused. Asked
   * again for each dependent as the cascade reaches it: one that became a dependent after the check, or
   * that the caller may no longer delete, is released (its reference to the owner removed), not deleted.
   */
  mayDelete?: MayDelete;
  /**
   * The caller's right to read an object (get or list it): a refused cascade names the dependent it
   * stopped at only when this holds, so a refusal tells nothing of objects the caller may not read beyond
   * that one exists. Absent: named.
   */
  mayRead?: MayDelete;
}

/** A deletion inside a cascade: its caller's right was checked upfront and is asked again per dependent. */
interface CascadeDeleteOptions extends DeleteOptions {
  inCascade?: true;
  /** A dry run's deletecollection: the uids the deletions it already answered would have taken (deleteCollection). */
  dryGone?: Set<string>;
}

export type MayDelete = (type: ResourceType, namespace: string | undefined, name: string) => boolean;

export const propagationPolicies = ['Background', 'Foreground', 'Orphan'] as const;
export type PropagationPolicy = (typeof propagationPolicies)[number];

/** Holds an owner deleted in the foreground until its dependents are gone (Kubernetes' name). */
const foregroundFinalizer = 'foregroundDeletion';

export interface DeleteResult {
  /** The object as it was deleted, or — when `pending` — as marked for deletion. */
  object: VersionedObject;
  /** Finalizers hold it (or, for a namespace, objects in it): marked with deletionTimestamp, still stored. */
  pending: boolean;
}

/** How create() and replace() record the write (an Update unless an apply), and how replace() treats a Secret's history: promote merges and clears the pending stage. */
interface ReplaceOptions extends WriteOptions {
  promote?: boolean;
  operation?: Operation;
}

/** Called with the object about to be stored, after validation and before the txn; throws to refuse. */
export type WriteGuard = (next: StoredObject, current: StoredObject | undefined) => void;

export interface ListOptions {
  labelSelector?: LabelSelector;
  fieldSelector?: FieldSelector;
  /** At most this many items (0 or absent: listPageItemsMax). */
  limit?: number;
  continueToken?: string;
  /**
   * Read the list as it was at exactly this revision (a resourceVersion with Exact): Expired once it is
   * compacted, Timeout (too large) if the store has not reached it. Not with a continueToken, which
   * carries its own revision.
   */
  revision?: number;
  /** The list must be at least this fresh (NotOlderThan): Timeout (too large) if the store has not reached it. */
  minRevision?: number;
  linearizable?: boolean;
  /** Where the page's reads charge what they hold for the client asking (storage/mvcc/read-budget.ts). */
  account?: ReadAccount;
}

/** How a read of one object is made: linearizably (the default) or not, charged to a client's account. */
export interface ReadObjectOptions {
  linearizable?: boolean;
  account?: ReadAccount;
}

export interface ListResult {
  items: VersionedObject[];
  /** The revision the list was read at. */
  revision: number;
  continueToken?: string;
}

export class Registry {
  private readonly newUid: () => string;
  private readonly nowMs: () => number;

  constructor(private readonly kv: RegistryKv, options: RegistryOptions = {}) {
    this.newUid = options.newUid ?? randomUUID;
    this.nowMs = options.nowMs ?? Date.now;
  }

  async get(type: ResourceType, namespace: string | undefined, name: string, options: ReadObjectOptions = {}): Promise<VersionedObject> {
    checkPathName(type, namespace, name);
    const result = await this.kv.range(objectKey(type, namespace, name), undefined, { linearizable: options.linearizable ?? true, account: options.account });
    const kv = result.kvs[0];
    const found = kv === undefined ? undefined : decodeObject(kv);
    if (found === undefined) throw notFound(type, name);
    return found;
  }

  async list(type: ResourceType, namespace: string | undefined, options: ListOptions = {}): Promise<ListResult> {
    const prefix = listPrefix(type, namespace);
    const end = prefixEnd(prefix);
    const limit = options.limit === undefined || options.limit <= 0 ? listPageItemsMax : Math.min(options.limit, listPageItemsMax);
    let revision = 0;
    let start = prefix;
    // What a read below the compacted history answers: the continue token's refusal, or the list's.
    let expired = expiredList;
    if (options.continueToken !== undefined) {
      const token = decodeContinue(options.continueToken, prefix);
      revision = token.revision;
      start = token.start;
      expired = expiredContinue;
    } else if (options.revision !== undefined) {
      revision = options.revision;
    }
    if (revision > 0 && revision < this.kv.mvcc().compactRevision()) throw expired();
    // A list at (or at least as fresh as) a revision this member has not applied yet is read linearizably
    // even if asked otherwise: the read then waits until the member has every committed change.
    const linearizable = (options.linearizable ?? true) || Math.max(options.minRevision ?? 0, revision) > this.kv.mvcc().currentRevision();
    const items: VersionedObject[] = [];
    // Bytes of the page's objects (key and value), at most listPageBytesMax, and the largest value read so far.
    let bytes = 0;
    let largest = 0;
    let first = true;
    for (;;) {
      let page;
      try {
        page = await this.kv.range(start, end, {
          // No more keys than the room left in the page holds at the largest size seen (at first: the
          // largest a value may be), so a step reads little past the page's end.
          limit: Math.max(1, Math.min(listScanStepKeys, Math.floor((listPageBytesMax - bytes) / (largest || valueBytesMax)) + 1)),
          ...(revision > 0 ? { revision } : {}),
          // The first read fixes the revision (linearizably by default); later reads at that revision are local.
          linearizable: first && linearizable,
          account: options.account,
        });
      } catch (error) {
        if (isMvccError(error) && error.code === 'E_COMPACTED') throw expired();
        // Asked at a revision after the store's, when even a linearizable read has not reached it.
        if (isMvccError(error) && error.code === 'E_FUTURE_REV') throw tooLargeResourceVersion(revision, this.kv.mvcc().currentRevision());
        throw error;
      }
      if (first && options.minRevision !== undefined && page.revision < options.minRevision) throw tooLargeResourceVersion(options.minRevision, page.revision);
      first = false;
      if (revision === 0) revision = page.revision;
      // What the step read and the page does not keep (filtered out, or past its end) is given back to
      // the account it was charged to: a selective list holds its page, not what it scanned.
      let unkept = page.kvs.reduce((sum, kv) => sum + kv.key.length + kv.value.length, 0);
      const giveBackUnkept = (): void => { if (unkept > 0) options.account?.refund(unkept); };
      for (let i = 0; i < page.kvs.length; i += 1) {
        const kv = page.kvs[i]!;
        const size = kv.key.length + kv.value.length;
        largest = Math.max(largest, kv.value.length);
        // The page is full: it ends before this object, which the next page starts with.
        if (items.length > 0 && bytes + size > listPageBytesMax) {
          giveBackUnkept();
          return { items, revision, continueToken: encodeContinueAt(revision, kv.key) };
        }
        const object = decodeObject(kv);
        if (object !== undefined && matches(object.object, options)) {
          items.push(object);
          bytes += size;
          unkept -= size;
        }
        if (items.length === limit) {
          giveBackUnkept();
          const more = i < page.kvs.length - 1 || page.more;
          return more ? { items, revision, continueToken: encodeContinue(revision, kv.key) } : { items, revision };
        }
      }
      giveBackUnkept();
      const last = page.kvs[page.kvs.length - 1];
      if (!page.more || last === undefined) return { items, revision };
      start = keyAfter(last.key);
    }
  }

  async create(type: ResourceType, namespace: string | undefined, input: unknown, guard?: WriteGuard, options: ReplaceOptions = {}): Promise<VersionedObject> {
    const body = asBody(type, input);
    const causes: StatusCause[] = [];
    const meta = readClientMeta(body, causes);
    const clientManaged = readClientManagedFields(isJson(body.metadata) ? body.metadata.managedFields : undefined, type.apiVersion, causes);
    const generateName = (meta.name === undefined || meta.name === '') && meta.generateName !== undefined && meta.generateName !== '' ? meta.generateName : undefined;
    let name = generateName !== undefined ? generatedName(generateName) : meta.name ?? '';
    if (name === '') causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required', reason: 'FieldValueRequired' });
    else for (const e of type.nameErrors(name)) causes.push({ field: generateName !== undefined ? 'metadata.generateName' : 'metadata.name', message: `Invalid value: ${JSON.stringify(generateName ?? name)}: ${e}`, reason: 'FieldValueInvalid' });
    checkNamespaceMatch(type, namespace, meta.namespace);
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '') {
      causes.push({ field: 'metadata.resourceVersion', message: 'Invalid value: must not be set on objects to be created', reason: 'FieldValueInvalid' });
    }
    // Only on references that are whole (readClientMeta found nothing wrong).
    if (causes.length === 0) causes.push(...ownerScopeCauses(type, meta.ownerReferences, undefined));
    const content = type.body(body, causes, { name, namespace: type.namespaced ? namespace : undefined });
    if (causes.length === 0) causes.push(...storedMapCauses(type.resource, meta.labels, meta.annotations, content));
    if (causes.length > 0) throw invalidError(type.kind, name, type.group, causes);
    checkMayNameOwners(type, namespace, name, meta.ownerReferences, undefined, options);

    const nsKey = type.namespaced ? objectKey(namespaces, undefined, namespace!) : undefined;
    // The namespace as this member has it; the txn requires it unchanged, so a create never lands in a namespace being deleted.
    let nsRevision = nsKey === undefined ? 0 : namespaceRevision(type, name, namespace!, (await this.kv.range(nsKey, undefined, { linearizable: false })).kvs[0]);
    for (let attempt = 0; ; attempt += 1) {
      const metadata: ObjectMeta = {
        name,
        ...(generateName !== undefined ? { generateName } : {}),
        ...(type.namespaced ? { namespace } : {}),
        uid: this.newUid(),
        creationTimestamp: timestamp(this.nowMs()),
        ...(meta.labels ? { labels: meta.labels } : {}),
        ...(meta.annotations ? { annotations: meta.annotations } : {}),
        ...(meta.finalizers ? { finalizers: meta.finalizers } : {}),
        ...(meta.ownerReferences ? { ownerReferences: meta.ownerReferences } : {}),
      };
      const stored: StoredObject = { apiVersion: type.apiVersion, kind: type.kind, metadata, ...content };
      this.recordManagers(type, clientManaged, undefined, stored, options);
      guard?.(stored, undefined);
      const key = objectKey(type, namespace, name);
      const value = encodeObject(type, stored, options);
      const result = await this.txn(options, {
        compare: [
          { key, target: 'createRevision', result: 'equal', value: 0 },
          ...(nsKey ? [{ key: nsKey, target: 'version' as const, result: 'greater' as const, value: 0 }, { key: nsKey, target: 'modRevision' as const, result: 'equal' as const, value: nsRevision }] : []),
        ],
        success: [
          { type: 'put', key, value },
          // A new Secret's data is its version 1, written with it (and replacing any leftover history).
          ...(type === secrets ? [{ type: 'put' as const, key: versionsKey(namespace!, name), value: encodeHistory(nextHistory(undefined, undefined, stored, options.actor ?? '', metadata.creationTimestamp)!) }] : []),
          ...ownerIndexOps(type, namespace, name, undefined, stored),
        ],
        failure: [{ type: 'range', key, options: { countOnly: true } }, ...(nsKey ? [{ type: 'range' as const, key: nsKey }] : [])],
      });
      if (result.succeeded) return { object: stored, modRevision: options.dryRun === true ? 0 : result.revision };
      const exists = result.responses[0]?.type === 'range' && result.responses[0].count > 0;
      if (exists && generateName !== undefined && attempt + 1 < generateNameAttemptsMax) {
        name = generatedName(generateName);
        continue;
      }
      if (exists) throw new RegistryError('AlreadyExists', `${type.resource}${groupSuffix(type)} ${JSON.stringify(name)} already exists`, details(type, name));
      const nsResponse = result.responses[1];
      nsRevision = namespaceRevision(type, name, namespace!, nsResponse?.type === 'range' ? nsResponse.kvs[0] : undefined);
      if (nsRevision === 0) throw notFound(namespaces, namespace!);
      if (attempt + 1 >= updateRetriesMax) throw conflict(type, name);
    }
  }

  /** PUT: replaces the object; a resourceVersion in the body is a precondition. */
  async update(type: ResourceType, namespace: string | undefined, name: string, input: unknown, guard?: WriteGuard, options: WriteOptions = {}): Promise<VersionedObject> {
    checkPathName(type, namespace, name);
    asBody(type, input);
    return this.replace(type, namespace, name, () => input, guard, options);
  }

  /**
   * PATCH: `apply` receives the current object as a response would show it (with resourceVersion)
   * and returns the patched object; a resourceVersion the patch sets is a precondition.
   */
  async patch(type: ResourceType, namespace: string | undefined, name: string, apply: (current: Json) => unknown, guard?: WriteGuard, options: WriteOptions = {}): Promise<VersionedObject> {
    checkPathName(type, namespace, name);
    return this.replace(type, namespace, name, (current) => apply(present(type, current, true)), guard, options);
  }

  /**
   * Server-side apply (PATCH with application/apply-patch+yaml): the object is created from the
   * configuration when absent (after request.authorizeCreate), else the configuration is merged into it
   * (managed-fields/apply.ts): a field another manager owns with another value is a Conflict (409) naming
   * each field and manager, unless `force`. A resourceVersion in the configuration is a precondition.
   */
  async apply(type: ResourceType, namespace: string | undefined, name: string, input: unknown, request: ApplyRequest, guard?: WriteGuard, options: WriteOptions = {}): Promise<{ object: VersionedObject; created: boolean }> {
    checkPathName(type, namespace, name);
    const config = applyBody(type, namespace, name, input);
    // Before the configuration's fields are tracked (each entry of a map is a field).
    const tooMany = arrivingMapCauses(type.resource, config);
    if (tooMany.length > 0) throw invalidError(type.kind, name, type.group, tooMany);
    const view = configView(type, config);
    const resourceVersion = isJson(config.metadata) && typeof config.metadata.resourceVersion === 'string' && config.metadata.resourceVersion !== '' ? config.metadata.resourceVersion : undefined;
    const write: ReplaceOptions = { ...options, fieldManager: request.manager, operation: 'Apply' };
    const asBodyWith = (applied: Record<string, unknown>, managedFields: ManagedFieldsEntry[] | undefined): Json => {
      const { metadata, ...rest } = applied;
      return {
        ...rest, apiVersion: type.apiVersion, kind: type.kind,
        metadata: {
          ...(metadata as Json), name, ...(type.namespaced ? { namespace } : {}), ...(resourceVersion !== undefined ? { resourceVersion } : {}),
          // A single empty entry: the apply left no manager owning anything.
          managedFields: managedFields ?? [{}],
        },
      };
    };
    const charge = pageChargeOf(options.account);
    for (let attempt = 0; ; attempt += 1) {
      charge?.giveBack();
      const found = await this.getIfPresent({ type, namespace, name }, charge);
      if (found === undefined) {
        request.authorizeCreate?.();
        const managers = [{ manager: request.manager, operation: 'Apply' as const, time: timestamp(this.nowMs()), fields: leavesOf(view) }];
        try {
          return { object: await this.create(type, namespace, asBodyWith(structuredClone(view), encodeManagers(managers, type.apiVersion)), guard, write), created: true };
        } catch (error) {
          if (!(error instanceof RegistryError && error.code === 'AlreadyExists') || attempt + 1 >= updateRetriesMax) throw error;
          continue;
        }
      }
      try {
        const object = await this.replace(type, namespace, name, (current) => {
          const outcome = applyConfiguration({
            live: trackedView(type, current.object), liveManagers: decodeStored(current.object.metadata.managedFields), config: view,
            manager: request.manager, force: request.force, now: timestamp(this.nowMs()),
            ...(options.valueBlind === true ? { blindAt: isHiddenSecretField, mayHoldBlindAt: mayHoldHiddenSecretField } : {}),
          });
          if ('blind' in outcome) throw blindApplyConflict(type, name);
          if ('conflicts' in outcome) {
            throw new RegistryError('Conflict', conflictMessage(outcome.conflicts, type.apiVersion), {
              ...details(type, name),
              causes: outcome.conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${managerName(c.manager, type.apiVersion)}`, field: pathString(c.path) })),
            });
          }
          if (outcome.managers.filter((m) => m.operation === 'Apply').length > managedFieldsApplyManagersMax) {
            throw invalidError(type.kind, name, type.group, [{ field: 'metadata.managedFields', message: `Too many: ${JSON.stringify(request.manager)} would be apply manager ${managedFieldsApplyManagersMax + 1}: at most ${managedFieldsApplyManagersMax} managers may apply to one object`, reason: 'FieldValueTooMany' }]);
          }
          return asBodyWith(outcome.view, encodeManagers(outcome.managers, type.apiVersion));
        }, guard, write);
        return { object, created: false };
      } catch (error) {
        // Deleted since it was read: apply creates it.
        if (!(error instanceof RegistryError && error.code === 'NotFound') || attempt + 1 >= updateRetriesMax) throw error;
      }
    }
  }

  /** A Secret and its version history, read at one revision. */
  async secretVersions(namespace: string, name: string, options: ReadObjectOptions = {}): Promise<{ secret: VersionedObject; history: VersionHistory }> {
    checkPathName(secrets, namespace, name);
    const result = await this.kv.range(objectKey(secrets, namespace, name), undefined, { linearizable: options.linearizable ?? true, account: options.account });
    const kv = result.kvs[0];
    const secret = kv === undefined ? undefined : decodeObject(kv);
    if (secret === undefined) throw notFound(secrets, name);
    const stored = await this.kv.range(versionsKey(namespace, name), undefined, { revision: result.revision, linearizable: false, account: options.account });
    const history = decodeHistory(stored.kvs[0]?.value)
      ?? nextHistory(undefined, secret.object, secret.object, '', secret.object.metadata.creationTimestamp)!;
    return { secret, history };
  }

  /**
   * Two-phase rotation, phase one: stores `updates` (base64 values) as the Secret's pending stage,
   * replacing any earlier one, without touching the Secret (no new resourceVersion, no watch event).
   * What promote would write is validated now, so a stage that could never be promoted is refused.
   */
  async stageSecret(namespace: string, name: string, updates: Record<string, string>, options: WriteOptions = {}): Promise<{ secret: VersionedObject; history: VersionHistory }> {
    checkPathName(secrets, namespace, name);
    const key = versionsKey(namespace, name);
    const charge = pageChargeOf(options.account);
    for (let attempt = 0; ; attempt += 1) {
      charge?.giveBack();
      const current = await this.get(secrets, namespace, name, { account: charge });
      refuseBlindImmutable(current, options);
      const historyKv = (await this.kv.range(key, undefined, { linearizable: false, account: charge })).kvs[0];
      const history = decodeHistory(historyKv?.value)
        ?? nextHistory(undefined, current.object, current.object, '', current.object.metadata.creationTimestamp)!;
      const { apiVersion: _a, kind: _k, metadata: _m, ...oldContent } = current.object;
      const causes: StatusCause[] = [];
      const content = secrets.body({ ...oldContent, data: { ...dataOf(current.object), ...updates } }, causes, { name, namespace });
      if (causes.length === 0) causes.push(...secrets.updateCauses(oldContent, content));
      if (causes.length > 0) throw invalidError(secrets.kind, name, secrets.group, causes);
      const value = encodeHistory({ ...history, pending: { createdAt: timestamp(this.nowMs()), createdBy: options.actor ?? '', data: { ...updates } } });
      if (value.length > valueBytesMax) {
        throw new RegistryError('RequestEntityTooLarge', `secrets ${JSON.stringify(name)}: the current data and the staged keys together exceed ${valueBytesMax} bytes`, details(secrets, name));
      }
      const result = await this.txn(options, {
        compare: [
          { key: objectKey(secrets, namespace, name), target: 'modRevision', result: 'equal', value: current.modRevision },
          { key, target: 'modRevision', result: 'equal', value: historyKv?.modRevision ?? 0 },
        ],
        success: [{ type: 'put', key, value }],
        failure: [],
      });
      if (result.succeeded) return { secret: current, history: decodeHistory(value)! };
      if (attempt + 1 >= updateRetriesMax) throw conflict(secrets, name);
    }
  }

  /**
   * Two-phase rotation, phase two: the staged keys are merged into the current data as a new version
   * (an ordinary update: new resourceVersion, MODIFIED for watchers) and the stage is cleared.
   * Nothing staged → Conflict (409).
   */
  async promoteSecret(namespace: string, name: string, options: WriteOptions = {}): Promise<VersionedObject> {
    checkPathName(secrets, namespace, name);
    return this.replace(secrets, namespace, name, (current, history) => {
      if (history?.pending === undefined) {
        throw new RegistryError('Conflict', `secrets ${JSON.stringify(name)} has nothing pending to promote (stage a value with rotate and "stage": true)`, details(secrets, name));
      }
      const { metadata, ...rest } = present(secrets, current, true);
      const { resourceVersion: _rv, ...meta } = metadata as Json;
      return { ...rest, metadata: meta, data: { ...dataOf(current.object), ...history.pending.data } };
    }, undefined, { ...options, promote: true });
  }

  /** The Secrets whose scheduled rotation is due at `nowMs` (scheduled-rotation.ts), each with the revision it was read at. */
  async dueSecretRotations(nowMs: number): Promise<DueRotation[]> {
    return (await this.checkSecretRotations(nowMs, new Map())).due;
  }

  /**
   * The same, and the current versions stamped after `nowMs`: those count from `firstSeenMs` (the
   * scheduler's memory of when it first saw each; now when it has none), never from their stamp.
   */
  async checkSecretRotations(nowMs: number, firstSeenMs: ReadonlyMap<string, number>): Promise<RotationCheck> {
    const entries: { secret: VersionedObject; history: VersionHistory }[] = [];
    let continueToken: string | undefined;
    do {
      const page = await this.list(secrets, undefined, continueToken !== undefined ? { continueToken } : {});
      for (const secret of page.items) {
        const { namespace, name, creationTimestamp } = secret.object.metadata;
        if (rotationScheduleOf(secret.object) === undefined || namespace === undefined) continue;
        const stored = await this.kv.range(versionsKey(namespace, name), undefined, { revision: page.revision, linearizable: false });
        entries.push({ secret, history: decodeHistory(stored.kvs[0]?.value) ?? nextHistory(undefined, secret.object, secret.object, '', creationTimestamp)! });
      }
      continueToken = page.continueToken;
    } while (continueToken !== undefined);
    return checkRotations(entries, nowMs, firstSeenMs);
  }

  /**
   * Rotates a due Secret ONLY if it is still at the mod revision it was found due at (one attempt, no
   * retry): a second leader, or a retry, that read the same period finds the revision moved and does
   * nothing. Undefined when the Secret changed or went meanwhile.
   */
  async rotateDue(due: DueRotation, options: WriteOptions): Promise<VersionedObject | undefined> {
    try {
      return await this.patch(secrets, due.namespace, due.name, (current) => ({
        ...current,
        metadata: { ...(current.metadata as Json), resourceVersion: String(due.modRevision) },
        data: { ...(isJson(current.data) ? current.data : {}), ...generateValues(due.generate) },
      }), undefined, options);
    } catch (error) {
      if (error instanceof RegistryError && (error.code === 'Conflict' || error.code === 'NotFound')) return undefined;
      throw error;
    }
  }

  /**
   * DELETE. An object with finalizers is only marked (deletionTimestamp set, `pending`); it goes when its
   * last finalizer is removed (replace). A namespace is marked first — no create lands in it after
   * that — then emptied (emptyNamespace) and removed once nothing in it waits on a finalizer.
   */
  async delete(type: ResourceType, namespace: string | undefined, name: string, deleteOptions: DeleteOptions = {}): Promise<DeleteResult> {
    checkPathName(type, namespace, name);
    // Only the object's own read is charged (the last attempt's): what the deletion reaches beyond it is not.
    const { account, ...options } = deleteOptions;
    const charge = pageChargeOf(account);
    if (type === namespaces && protectedNamespaces.includes(name)) {
      throw new RegistryError('Forbidden', `namespaces ${JSON.stringify(name)} is forbidden: this namespace may not be deleted`, details(namespaces, name));
    }
    const precondition = options.resourceVersion === undefined || options.resourceVersion === '' ? undefined : parseRevision(options.resourceVersion);
    for (let attempt = 0; ; attempt += 1) {
      charge?.giveBack();
      const current = await this.get(type, namespace, name, { account: charge });
      if (options.uid !== undefined && options.uid !== current.object.metadata.uid) throw uidConflict(type, current.object, options.uid, options.mayRead);
      if (precondition !== undefined && precondition !== current.modRevision) throw conflict(type, name);
      let result: DeleteResult | undefined;
      if (type === namespaces && options.dryRun === true) {
        // As the real delete would end: gone at once unless a finalizer (its own or inside it) holds it.
        const held = hasFinalizers(current.object) || (await this.namespaceContents(name)).some((c) => hasFinalizers(c.versioned.object));
        result = held ? await this.markDeleting(type, current, options) : { object: current, pending: false };
      } else if (type === namespaces) {
        const marked = await this.markDeleting(type, current, options);
        result = marked === undefined ? undefined : await this.emptyNamespace(name);
      } else if (hasFinalizers(current.object)) {
        result = await this.markDeleting(type, current, options);
      } else {
        // A dry run too: it runs the cascade check and answers as the delete would (deleteWithDependents).
        result = await this.deleteWithDependents(type, current, options);
      }
      if (result !== undefined) return result;
      if (precondition !== undefined || attempt + 1 >= updateRetriesMax) throw conflict(type, name);
    }
  }

  /**
   * deletecollection: every object the selectors match, each deleted as delete() would (finalizers
   * mark instead), a list page at a time: each page's results are handed over before the next page is
   * read, so the caller holds about one page (listPageBytesMax) whatever the collection's size, and
   * stopping early stops the deletion there. Not one transaction — as in Kubernetes, an object created
   * meanwhile may stay, one deleted meanwhile is skipped. A precondition (uid, resourceVersion) holds for
   * each object, as the API server passes the options to each delete. Namespaces are not deleted as a collection.
   */
  async *deleteCollection(type: ResourceType, namespace: string | undefined, options: Pick<ListOptions, 'labelSelector' | 'fieldSelector'> & DeleteOptions = {}): AsyncGenerator<DeleteResult[]> {
    if (type === namespaces) throw new RegistryError('MethodNotAllowed', 'deleting a collection of namespaces is not supported; delete namespaces one by one');
    const { labelSelector, fieldSelector, account, ...deleteOptions } = options;
    // Only the first page is charged, before anything is deleted (as a list's is), so a refusal never
    // cuts a deletion short; it is given back once its results are taken.
    let charge = pageChargeOf(account);
    // A dry run skips what an earlier deletion's cascade would have taken, as the real one finds it gone.
    const write: CascadeDeleteOptions = { ...deleteOptions, ...(deleteOptions.dryRun === true ? { dryGone: new Set<string>() } : {}) };
    let continueToken: string | undefined;
    try {
      do {
        const page = await this.list(type, namespace, {
          ...(labelSelector ? { labelSelector } : {}), ...(fieldSelector ? { fieldSelector } : {}), ...(continueToken !== undefined ? { continueToken } : {}), account: charge,
        });
        const results: DeleteResult[] = [];
        for (const item of page.items) {
          const { namespace: itemNamespace, name } = item.object.metadata;
          if (write.dryGone?.has(item.object.metadata.uid) === true) continue;
          try {
            results.push(await this.delete(type, itemNamespace, name, write));
          } catch (error) {
            if (!(error instanceof RegistryError && error.code === 'NotFound')) throw error;
          }
        }
        yield results;
        charge?.giveBack();
        charge = undefined;
        continueToken = page.continueToken;
      } while (continueToken !== undefined);
    } finally {
      charge?.giveBack();
    }
  }

  /** Sets deletionTimestamp unless set; undefined when the object changed since it was read. */
  private async markDeleting(type: ResourceType, current: VersionedObject, options: WriteOptions, addFinalizer?: string): Promise<DeleteResult | undefined> {
    const had = current.object.metadata.finalizers ?? [];
    if (current.object.metadata.deletionTimestamp !== undefined && (addFinalizer === undefined || had.includes(addFinalizer))) return { object: current, pending: true };
    const metadata: ObjectMeta = {
      ...current.object.metadata,
      deletionTimestamp: current.object.metadata.deletionTimestamp ?? timestamp(this.nowMs()), deletionGracePeriodSeconds: 0,
      ...(addFinalizer !== undefined && !had.includes(addFinalizer) ? { finalizers: [...had, addFinalizer] } : {}),
    };
    const stored: StoredObject = { ...current.object, metadata };
    const key = objectKey(type, metadata.namespace, metadata.name);
    const result = await this.txn(options, {
      compare: [{ key, target: 'modRevision', result: 'equal', value: current.modRevision }],
      success: [{ type: 'put', key, value: encodeObject(type, stored, options) }],
      failure: [],
    });
    if (!result.succeeded) return undefined;
    return { object: { object: stored, modRevision: options.dryRun === true ? current.modRevision : result.revision }, pending: true };
  }

  /** Deletes the object (and a Secret's versions) if unchanged since read: the revision of the delete, undefined when it changed. */
  private async remove(type: ResourceType, current: VersionedObject, options: WriteOptions): Promise<number | undefined> {
    const { namespace, name } = current.object.metadata;
    const key = objectKey(type, namespace, name);
    const result = await this.txn(options, {
      compare: [{ key, target: 'modRevision', result: 'equal', value: current.modRevision }],
      success: [
        ...(type === secrets ? [{ type: 'deleteRange' as const, key: versionsKey(namespace!, name) }] : []),
        ...ownerIndexOps(type, namespace, name, current.object, undefined),
        { type: 'deleteRange', key },
      ],
      failure: [],
    });
    if (!result.succeeded) return undefined;
    if (options.dryRun === true) return current.modRevision;
    // An owner deleted in the foreground waits for its dependents: this may have been its last one.
    for (const ref of current.object.metadata.ownerReferences ?? []) {
      const owner = ownerNamedBy(ref, type.namespaced ? namespace : undefined);
      if (owner !== undefined) await this.releaseForegroundOwner(owner);
    }
    if (namespace !== undefined) await this.finishNamespaceIfTerminating(namespace);
    return result.revision;
  }

  /**
   * Empties a namespace marked for deletion: marks each object with finalizers, deletes the others in
   * batches (each object compared at the revision it was listed at, so one that gained a finalizer
   * meanwhile is kept), and — in the last batch, when nothing waits on a finalizer — deletes the
   * namespace with whatever is left of its prefixes. Safe to run again: a later delete of the
   * namespace, or the removal of the last finalizer in it, resumes it.
   */
  private async emptyNamespace(name: string): Promise<DeleteResult> {
    for (let attempt = 0; ; attempt += 1) {
      const namespace = await this.get(namespaces, undefined, name);
      const contents = await this.namespaceContents(name);
      let raced = false;
      const held = contents.filter((c) => hasFinalizers(c.versioned.object));
      for (const { type, versioned } of held) {
        // The contents hold metadata only: the object is read whole, at the revision it was listed at, to be marked.
        const whole = await this.get(type, name, versioned.object.metadata.name).catch((error: unknown) => {
          if (error instanceof RegistryError && error.code === 'NotFound') return undefined;
          throw error;
        });
        if (whole?.modRevision !== versioned.modRevision || await this.markDeleting(type, whole, {}) === undefined) raced = true;
      }
      const free = contents.filter((c) => !hasFinalizers(c.versioned.object));
      const finishing = held.length === 0 && !hasFinalizers(namespace.object);
      const batches = deleteBatches(free);
      for (let i = 0; i < batches.length && !raced; i += 1) {
        const last = finishing && i === batches.length - 1;
        const batch = batches[i]!;
        const nsKey = objectKey(namespaces, undefined, name);
        const result = await this.txn({}, {
          compare: [
            ...batch.map(({ type, versioned }) => ({ key: objectKey(type, name, versioned.object.metadata.name), target: 'modRevision' as const, result: 'equal' as const, value: versioned.modRevision })),
            ...(last ? [{ key: nsKey, target: 'modRevision' as const, result: 'equal' as const, value: namespace.modRevision }] : []),
          ],
          success: [
            ...batch.flatMap(({ type, versioned }) => ownerIndexOps(type, name, versioned.object.metadata.name, versioned.object, undefined)),
            ...(last
              // Everything in the namespace, then the namespace: no create lands in a namespace marked for deletion.
              ? [
                  ...namespacedResourceTypes.map((t) => {
                    const prefix = listPrefix(t, name);
                    return { type: 'deleteRange' as const, key: prefix, end: prefixEnd(prefix) };
                  }),
                  { type: 'deleteRange' as const, key: versionsNamespacePrefix(name), end: prefixEnd(versionsNamespacePrefix(name)) },
                  { type: 'deleteRange' as const, key: nsKey },
                ]
              : batch.flatMap(({ type, versioned }) => [
                  ...(type === secrets ? [{ type: 'deleteRange' as const, key: versionsKey(name, versioned.object.metadata.name) }] : []),
                  { type: 'deleteRange' as const, key: objectKey(type, name, versioned.object.metadata.name) },
                ])),
          ],
          failure: [],
        });
        if (!result.succeeded) raced = true;
      }
      if (!raced) return { object: namespace, pending: !finishing };
      if (attempt + 1 >= updateRetriesMax) throw conflict(namespaces, name);
    }
  }

  /**
   * Deletes an object with no finalizers and treats its dependents (objects whose ownerReferences name
   * it, found through the owner index, owners.ts) as Kubernetes' garbage collector would for the
   * request's propagationPolicy. A cascade deletes only what the caller may delete itself (mayDelete):
   * otherwise setting an ownerReference — an update — would become a way to delete. Undefined when the
   * object changed meanwhile.
   */
  private async deleteWithDependents(type: ResourceType, current: VersionedObject, options: CascadeDeleteOptions): Promise<DeleteResult | undefined> {
    const policy = options.propagationPolicy ?? 'Background';
    const owner = ownerOf(type, current.object);
    const write = options.actor !== undefined ? { actor: options.actor } : {};
    const dependents = await this.dependentsOf(owner);
    const { mayDelete } = options;
    if (policy !== 'Orphan' && mayDelete !== undefined && options.inCascade !== true) await this.checkCascade(dependents, mayDelete, options.mayRead, owner);
    if (options.dryRun === true) return this.dryDeleteWithDependents(type, current, dependents, policy, options);
    const cascade = (propagationPolicy: PropagationPolicy): CascadeDeleteOptions => ({ ...write, propagationPolicy, inCascade: true, ...(mayDelete !== undefined ? { mayDelete } : {}) });
    if (policy === 'Foreground' && dependents.length > 0) {
      // Marked and held by foregroundDeletion until every dependent is gone (releaseForegroundOwner).
      const marked = await this.markDeleting(type, current, options, foregroundFinalizer);
      if (marked === undefined) return undefined;
      for (const { at } of dependents) await this.collectDependent(at, owner, cascade('Foreground'));
      await this.releaseForegroundOwner(owner);
      const still = await this.getIfPresent(owner);
      return still !== undefined && still.object.metadata.uid === owner.uid ? { object: still, pending: true } : { object: current, pending: false };
    }
    if (policy === 'Orphan') {
      for (const { at } of dependents) await this.dropOwnerReference(at, owner, write);
    }
    if (await this.remove(type, current, options) === undefined) return undefined;
    if (policy === 'Background') {
      for (const { at } of dependents) await this.collectDependent(at, owner, cascade('Background'));
    }
    return { object: current, pending: false };
  }

  /**
   * A dry run of deleteWithDependents, past the same cascade check: reads what the cascade would do
   * (simulateCascade) and answers as the delete would — the owner gone, or, in the foreground, held
   * (marked, 202) while a dependent a finalizer holds would remain — writing nothing.
   */
  private async dryDeleteWithDependents(type: ResourceType, current: VersionedObject, dependents: Dependent[], policy: PropagationPolicy, options: CascadeDeleteOptions): Promise<DeleteResult | undefined> {
    const gone = options.dryGone ?? new Set<string>();
    const owner = ownerOf(type, current.object);
    const { uid } = owner;
    // In the background the owner goes first, so a dependent's other reference to it holds nothing.
    if (policy === 'Background') gone.add(uid);
    const held = policy === 'Orphan' ? false : await this.simulateCascade(policy, owner, dependents, options.mayDelete, gone, new Set([uid]));
    if (policy === 'Foreground' && held) return this.markDeleting(type, current, options, foregroundFinalizer);
    if (await this.remove(type, current, options) === undefined) return undefined;
    gone.add(uid);
    return { object: current, pending: false };
  }

  /**
   * What a cascade from `owner` would do, read and not written (a dry run): adds to `gone`
   * the uids of the objects it would delete, and tells whether one would remain marked for deletion —
   * held by a finalizer, or in the foreground by a dependent so held — which holds a foreground owner.
   * A dependent the caller may not delete is released, in the background one with another owner kept,
   * as collectDependent and deleteWithDependents decide.
   */
  private async simulateCascade(policy: 'Background' | 'Foreground', owner: Owner, dependents: Dependent[], mayDelete: MayDelete | undefined, gone: Set<string>, seen: Set<string>): Promise<boolean> {
    let held = false;
    for (const { at, found } of dependents) {
      const { uid } = found.object.metadata;
      if (seen.has(uid) || gone.has(uid)) continue;
      seen.add(uid);
      if (mayDelete !== undefined && !mayDelete(at.type, at.namespace, at.name)) continue;
      if (policy === 'Background') {
        let kept = false;
        for (const other of found.object.metadata.ownerReferences ?? []) {
          if (kept) break;
          if (!refersTo(other, at.namespace, owner) && !gone.has(other.uid)) kept = await this.ownerExists(other, at.namespace);
        }
        if (kept) continue;
      }
      if (hasFinalizers(found.object)) {
        held = true;
        continue;
      }
      if (policy === 'Background') gone.add(uid);
      const asOwner = ownerOf(at.type, found.object);
      const ownHeld = await this.simulateCascade(policy, asOwner, await this.dependentsOf(asOwner), mayDelete, gone, seen);
      if (policy === 'Foreground') {
        if (ownHeld) held = true;
        else gone.add(uid);
      }
    }
    return held;
  }

  /**
   * Refuses (Forbidden, before anything is deleted) a cascade that would reach an object the caller may
   * not delete, at any depth; names that object only if the caller may read it (mayRead).
   */
  private async checkCascade(dependents: Dependent[], mayDelete: MayDelete, mayRead: MayDelete | undefined, owner: Owner): Promise<void> {
    const seen = new Set<string>();
    const queue = [...dependents];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const { at, found } = next;
      if (seen.has(found.object.metadata.uid)) continue;
      seen.add(found.object.metadata.uid);
      if (!mayDelete(at.type, at.namespace, at.name)) {
        const dependent = mayRead === undefined || mayRead(at.type, at.namespace, at.name)
          ? `its dependent ${at.type.resource}${groupSuffix(at.type)} ${JSON.stringify(at.name)}, which you may not delete`
          : 'a dependent you may not delete (one you may not read is not named)';
        throw new RegistryError('Forbidden',
          `${owner.type.resource}${groupSuffix(owner.type)} ${JSON.stringify(owner.name)} is forbidden: deleting it would delete ${dependent}; delete with propagationPolicy=Orphan to keep it`,
          details(owner.type, owner.name));
      }
      queue.push(...await this.dependentsOf(ownerOf(at.type, found.object)));
    }
  }

  /**
   * The dependents of `owner`, as read now (linearizably): the objects the owner index lists under its uid
   * whose reference really names it (owners.ts, refersTo). The index is keyed by uid alone and any creator
   * may write a seen uid into a reference, so an entry in another namespace or scope is skipped unread, and
   * one whose reference names another kind or name is no dependent either.
   */
  private async dependentsOf(owner: Owner): Promise<Dependent[]> {
    const dependents: Dependent[] = [];
    for await (const dependent of this.readDependents(owner)) dependents.push(dependent);
    return dependents;
  }

  /** Whether `owner` has a dependent left (dependentsOf), reading no further than the first. */
  private async hasDependent(owner: Owner): Promise<boolean> {
    return (await this.readDependents(owner).next()).done !== true;
  }

  /** The dependents of `owner` one at a time, each read as it comes (dependentsOf). */
  private async *readDependents(owner: Owner): AsyncGenerator<Dependent> {
    const prefix = dependentsPrefix(owner.uid);
    const entries = await this.kv.range(prefix, prefixEnd(prefix), { linearizable: true, keysOnly: true });
    for (const kv of entries.kvs) {
      const at = dependentOf(kv.key);
      if (at === undefined || at.namespace !== owner.namespace) continue;
      const found = await this.getIfPresent(at);
      if (found !== undefined && isDependentOf(found.object, owner)) yield { at, found };
    }
  }

  /**
   * A dependent of an owner being deleted, read again: nothing if it no longer names the owner (gone, or
   * replaced under its name); else deleted — that object, by its uid, not one recreated under its name
   * meanwhile — unless the caller may not delete it or, in the background, another owner of it still
   * exists (then only the reference goes).
   */
  private async collectDependent(dependent: DependentRef, owner: Owner, options: CascadeDeleteOptions): Promise<void> {
    const current = await this.getIfPresent(dependent);
    if (current === undefined || !isDependentOf(current.object, owner)) return;
    const write = options.actor !== undefined ? { actor: options.actor } : {};
    const others = options.propagationPolicy === 'Background' ? (current.object.metadata.ownerReferences ?? []).filter((r) => !refersTo(r, dependent.namespace, owner)) : [];
    let kept = options.mayDelete !== undefined && !options.mayDelete(dependent.type, dependent.namespace, dependent.name);
    for (const other of others) {
      if (kept) break;
      kept = await this.ownerExists(other, dependent.namespace);
    }
    if (kept) await this.dropOwnerReference(dependent, owner, write);
    else await this.deleteIfPresent(dependent, { ...options, uid: current.object.metadata.uid });
  }

  /**
   * True unless the owner a reference names is known to be gone (an owner of a kind Coffer does not store
   * is assumed to exist); a reference the cascade does not follow (ownerNamedBy: another scope) names none.
   */
  private async ownerExists(ref: OwnerReference, dependentNamespace: string | undefined): Promise<boolean> {
    if (ownerTypeOf(ref) === undefined) return true;
    const owner = ownerNamedBy(ref, dependentNamespace);
    if (owner === undefined) return false;
    return (await this.getIfPresent(owner))?.object.metadata.uid === ref.uid;
  }

  /** Removes foregroundDeletion from an owner marked with it once none of its dependents remain: the owner then goes (replace). */
  private async releaseForegroundOwner(owner: Owner): Promise<void> {
    const found = await this.getIfPresent(owner);
    if (found === undefined || found.object.metadata.uid !== owner.uid || !(found.object.metadata.finalizers ?? []).includes(foregroundFinalizer)) return;
    if (await this.hasDependent(owner)) return;
    await this.rewriteMeta(owner, (meta) => ({ ...meta, finalizers: (meta.finalizers ?? []).filter((f) => f !== foregroundFinalizer) }), {});
  }

  /** Removes the references that name `owner` (and no other reference holding its uid). */
  private async dropOwnerReference(dependent: DependentRef, owner: Owner, write: WriteOptions): Promise<void> {
    await this.rewriteMeta(dependent, (meta) => ({ ...meta, ownerReferences: (meta.ownerReferences ?? []).filter((r) => !refersTo(r, dependent.namespace, owner)) }), write);
  }

  /** An update of an object's metadata alone, retried on conflict; nothing when the object is gone. */
  private async rewriteMeta(at: DependentRef, change: (meta: ObjectMeta) => ObjectMeta, write: WriteOptions): Promise<void> {
    try {
      await this.patch(at.type, at.namespace, at.name, (current) => {
        const { resourceVersion: _rv, ...meta } = current.metadata as ObjectMeta & { resourceVersion?: string };
        return { ...current, metadata: change(meta) };
      }, undefined, write);
    } catch (error) {
      if (!(error instanceof RegistryError && error.code === 'NotFound')) throw error;
    }
  }

  private async getIfPresent(at: DependentRef, account?: ReadAccount): Promise<VersionedObject | undefined> {
    try {
      return await this.get(at.type, at.namespace, at.name, { account });
    } catch (error) {
      if (error instanceof RegistryError && error.code === 'NotFound') return undefined;
      throw error;
    }
  }

  /** Deletes the object unless it is gone — or, when `options.uid` is given, replaced by another under its name. */
  private async deleteIfPresent(at: DependentRef, options: DeleteOptions): Promise<void> {
    try {
      await this.delete(at.type, at.namespace, at.name, options);
    } catch (error) {
      if (error instanceof RegistryError && error.code === 'NotFound') return;
      if (error instanceof RegistryError && error.code === 'Conflict' && options.uid !== undefined && (await this.getIfPresent(at))?.object.metadata.uid !== options.uid) return;
      throw error;
    }
  }

  /** Every object in a namespace, each with the revision it was read at. */
  /**
   * Every object in namespace `name`, read a list page at a time and kept as its metadata only (its
   * name, mod revision, finalizers and owners are what emptying the namespace needs): a namespace's
   * Secrets' values are never held all at once.
   */
  private async namespaceContents(name: string): Promise<{ type: ResourceType; versioned: VersionedObject }[]> {
    const contents: { type: ResourceType; versioned: VersionedObject }[] = [];
    for (const type of namespacedResourceTypes) {
      let continueToken: string | undefined;
      do {
        const page = await this.list(type, name, continueToken !== undefined ? { continueToken } : {});
        for (const { object: { apiVersion, kind, metadata }, modRevision } of page.items) contents.push({ type, versioned: { object: { apiVersion, kind, metadata }, modRevision } });
        continueToken = page.continueToken;
      } while (continueToken !== undefined);
    }
    return contents;
  }

  /** After an object in `namespace` went: if the namespace is marked for deletion, go on emptying it. */
  private async finishNamespaceIfTerminating(namespace: string): Promise<void> {
    const found = (await this.kv.range(objectKey(namespaces, undefined, namespace), undefined, { linearizable: false })).kvs[0];
    const object = found === undefined ? undefined : decodeObject(found);
    if (object?.object.metadata.deletionTimestamp !== undefined) await this.emptyNamespace(namespace);
  }

  private async replace(
    type: ResourceType, namespace: string | undefined, name: string, compute: (current: VersionedObject, history: VersionHistory | undefined) => unknown,
    guard?: WriteGuard, options: ReplaceOptions = {},
  ): Promise<VersionedObject> {
    // What an attempt read is given back when the next one reads again: the write holds one reading.
    const charge = pageChargeOf(options.account);
    for (let attempt = 0; ; attempt += 1) {
      charge?.giveBack();
      const current = await this.get(type, namespace, name, { account: charge });
      refuseBlindImmutable(current, options);
      // Read after the Secret, from the member that just served it; the txn compares both mod revisions.
      const historyKv = type === secrets
        ? (await this.kv.range(versionsKey(namespace!, name), undefined, { linearizable: false, account: charge })).kvs[0]
        : undefined;
      const history = decodeHistory(historyKv?.value);
      // A value-blind write other than an apply (which merges by the managers it reads, apply.ts) is computed
      // on the Secret without its managedFields, may not set them (refuseBlindManagedFields), and takes every
      // hidden field it sets whatever the stored values (blindWrite).
      const blind = options.valueBlind === true && type === secrets && options.operation !== 'Apply';
      const given = blind ? { ...current, object: withoutManagedFields(current.object) } : current;
      const body = asBody(type, compute(given, history));
      if (blind) refuseBlindManagedFields(name, body);
      if (options.valueBlind === true && type === secrets) refuseBlindKeyOracle(name, given, history, compute);
      const { stored, precondition } = this.updated(type, namespace, name, current, body, options, blind ? blindWrite(given, history, compute, body) : undefined);
      guard?.(stored, current.object);
      const old = current.object.metadata;
      // An update whose result is the stored object writes nothing: same resourceVersion, no event, no
      // new Secret version, as the Kubernetes API server skips such writes (a generation stored by an
      // older version is not a difference). Promote always writes: it clears the stage. So does a
      // caller who may not read the values: whether it wrote anything would tell it whether a value it
      // sent was the stored one (WriteOptions.valueBlind).
      const { generation: _g, ...oldMeta } = old;
      if (options.promote !== true && options.valueBlind !== true && equalValues(stored, { ...current.object, metadata: oldMeta })) return current;
      // The last finalizer of an object marked for deletion is gone: the object goes (a namespace goes once empty).
      if (old.deletionTimestamp !== undefined && !hasFinalizers(stored) && type !== namespaces) {
        const removedAt = await this.remove(type, current, options);
        if (removedAt !== undefined) return { object: stored, modRevision: removedAt };
        if (precondition !== undefined || attempt + 1 >= updateRetriesMax) throw conflict(type, name);
        continue;
      }
      const key = objectKey(type, namespace, name);
      const nextVersions = type === secrets
        ? nextHistory(history, current.object, stored, options.actor ?? '', timestamp(this.nowMs()), { clearPending: options.promote === true, alwaysNew: options.valueBlind === true })
        : undefined;
      const versionsValue = nextVersions !== undefined ? encodeHistory(nextVersions) : undefined;
      if (versionsValue !== undefined && versionsValue.length > valueBytesMax) {
        // Only a pending stage can push the history past the limit (older versions are dropped first).
        throw new RegistryError('RequestEntityTooLarge',
          `secrets ${JSON.stringify(name)}: the new data and the pending stage together exceed ${valueBytesMax} bytes; promote the stage or stage a smaller value first`,
          details(secrets, name));
      }
      const result = await this.txn(options, {
        compare: [
          { key, target: 'modRevision', result: 'equal', value: current.modRevision },
          // A stage writes the history alone (stageSecret): an update must not overwrite one it did not read.
          ...(type === secrets ? [{ key: versionsKey(namespace!, name), target: 'modRevision' as const, result: 'equal' as const, value: historyKv?.modRevision ?? 0 }] : []),
        ],
        success: [
          { type: 'put', key, value: encodeObject(type, stored, options) },
          ...(versionsValue !== undefined ? [{ type: 'put' as const, key: versionsKey(namespace!, name), value: versionsValue }] : []),
          ...ownerIndexOps(type, namespace, name, current.object, stored),
        ],
        failure: [],
      });
      if (result.succeeded) {
        if (type === namespaces && old.deletionTimestamp !== undefined && !hasFinalizers(stored) && options.dryRun !== true) await this.emptyNamespace(name);
        return { object: stored, modRevision: options.dryRun === true ? current.modRevision : result.revision };
      }
      if (precondition !== undefined || attempt + 1 >= updateRetriesMax) throw conflict(type, name);
    }
  }

  /**
   * The object an update of `current` with `body` stores, checked (name, namespace, the resourceVersion
   * precondition, fixed fields, validation, finalizers) and with the metadata the server keeps; the
   * precondition the body named, if any.
   */
  private updated(
    type: ResourceType, namespace: string | undefined, name: string, current: VersionedObject, body: Json, options: ReplaceOptions, blind?: BlindWrite,
  ): { stored: StoredObject; precondition: string | undefined } {
    const causes: StatusCause[] = [];
    const meta = readClientMeta(body, causes);
    const clientManaged = readClientManagedFields(isJson(body.metadata) ? body.metadata.managedFields : undefined, type.apiVersion, causes);
    if (meta.name !== undefined && meta.name !== name) {
      throw new RegistryError('BadRequest', `the name of the object (${JSON.stringify(meta.name)}) does not match the name on the URL (${JSON.stringify(name)})`);
    }
    checkNamespaceMatch(type, namespace, meta.namespace);
    const precondition = meta.resourceVersion === undefined || meta.resourceVersion === '' ? undefined : meta.resourceVersion;
    if (precondition !== undefined && precondition !== String(current.modRevision)) throw conflict(type, name);
    const { apiVersion: _a, kind: _k, metadata: old, ...oldContent } = current.object;
    const fixed = type.fixedFieldCauses?.(oldContent, body) ?? [];
    if (fixed.length > 0) throw invalidError(type.kind, name, type.group, fixed);
    if (causes.length === 0) causes.push(...ownerScopeCauses(type, meta.ownerReferences, old.ownerReferences));
    const content = type.body(body, causes, { name, namespace: type.namespaced ? namespace : undefined });
    if (causes.length === 0) causes.push(...storedMapCauses(type.resource, meta.labels, meta.annotations, content));
    if (causes.length > 0) throw invalidError(type.kind, name, type.group, causes);
    checkMayNameOwners(type, namespace, name, meta.ownerReferences, old.ownerReferences, options);
    const updateCauses = [...type.updateCauses(oldContent, content), ...finalizerCauses(old, meta.finalizers)];
    if (updateCauses.length > 0) throw invalidError(type.kind, name, type.group, updateCauses);
    const metadata: ObjectMeta = {
      name,
      ...(old.generateName !== undefined ? { generateName: old.generateName } : {}),
      ...(type.namespaced ? { namespace } : {}),
      uid: old.uid,
      creationTimestamp: old.creationTimestamp,
      ...(meta.labels ? { labels: meta.labels } : {}),
      ...(meta.annotations ? { annotations: meta.annotations } : {}),
      ...(meta.finalizers ? { finalizers: meta.finalizers } : {}),
      ...(meta.ownerReferences ? { ownerReferences: meta.ownerReferences } : {}),
      ...(old.deletionTimestamp !== undefined ? { deletionTimestamp: old.deletionTimestamp, deletionGracePeriodSeconds: old.deletionGracePeriodSeconds ?? 0 } : {}),
    };
    const stored: StoredObject = { apiVersion: type.apiVersion, kind: type.kind, metadata, ...content };
    this.recordManagers(type, clientManaged, current.object, stored, options, blind);
    return { stored, precondition };
  }

  /**
   * Sets stored.metadata.managedFields for a write of `stored` over `before` (undefined: a create): from
   * the managers the client sent (validated) or else the stored ones, with this write's ownership
   * (managed-fields/track.ts; `blind`: a value-blind write's); none when the client cleared them. Refused
   * past managedFieldsBytesMax — for a value-blind write without the byte count, which counts the hidden
   * field names others own.
   */
  private recordManagers(type: ResourceType, client: ClientManagedFields, before: StoredObject | undefined, stored: StoredObject, options: ReplaceOptions, blind?: BlindWrite): void {
    delete stored.metadata.managedFields;
    if (client.kind === 'reset') return;
    const base = client.kind === 'set' ? client.managers : decodeStored(before?.metadata.managedFields);
    const managers = nextManagers(base, before === undefined ? undefined : trackedView(type, before), trackedView(type, stored), {
      manager: options.fieldManager ?? internalFieldManager, operation: options.operation ?? 'Update', now: timestamp(this.nowMs()),
    }, blind);
    const entries = encodeManagers(managers, type.apiVersion);
    if (entries === undefined) return;
    const bytes = Buffer.byteLength(JSON.stringify(entries));
    if (bytes > managedFieldsBytesMax) {
      const told = options.valueBlind === true ? '' : ` ${bytes} bytes:`;
      throw invalidError(type.kind, stored.metadata.name, type.group, [{ field: 'metadata.managedFields', message: `Too long:${told} must have at most ${managedFieldsBytesMax} bytes`, reason: 'FieldValueTooLong' }]);
    }
    stored.metadata.managedFields = entries;
  }

  /** Proposes the transaction, or — for a dry run — evaluates it against the current state without writing. */
  private async txn(options: { dryRun?: boolean }, request: Omit<TxnRequest, 'type'>): Promise<TxnResponse> {
    if (options.dryRun === true) return evaluateWithoutWriting(this.kv, request);
    const result = await this.kv.propose({ type: 'txn', ...request });
    return result as TxnResponse;
  }
}

/** The object as a response shows it: allowlisted fields, resourceVersion = mod revision. */
export function present(type: ResourceType, versioned: VersionedObject, withData = true): Json {
  const { object, modRevision } = versioned;
  const body = type.project(object);
  if (!withData) delete body.data;
  return { apiVersion: type.apiVersion, kind: type.kind, metadata: projectMeta(object.metadata, modRevision, type.namespaced), ...body };
}

/**
 * The objects of a namespace being emptied, in batches one transaction each can take: at most
 * namespaceDeleteBatchObjects objects, and operations (object, Secret versions, owner index entries)
 * under txnOpsMax with room for the last batch's prefix deletes. Never empty: [[]] for no objects.
 */
function deleteBatches<T extends { type: ResourceType; versioned: VersionedObject }>(objects: readonly T[]): T[][] {
  const reserved = namespacedResourceTypes.length + 2;
  const batches: T[][] = [[]];
  let ops = 0;
  for (const object of objects) {
    const cost = 2 + (object.versioned.object.metadata.ownerReferences?.length ?? 0);
    const batch = batches[batches.length - 1]!;
    if (batch.length > 0 && (batch.length >= namespaceDeleteBatchObjects || ops + cost > txnOpsMax - reserved)) {
      batches.push([object]);
      ops = cost;
    } else {
      batch.push(object);
      ops += cost;
    }
  }
  return batches;
}

function hasFinalizers(object: StoredObject): boolean {
  return (object.metadata.finalizers?.length ?? 0) > 0;
}

/** Kubernetes refuses new finalizers on an object already marked for deletion. */
function finalizerCauses(old: ObjectMeta, next: string[] | undefined): StatusCause[] {
  if (old.deletionTimestamp === undefined) return [];
  return (next ?? []).filter((f) => !(old.finalizers ?? []).includes(f))
    .map((f) => ({ field: 'metadata.finalizers', message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify([f])}`, reason: 'FieldValueForbidden' }));
}

/**
 * The mod revision of a namespace as stored (0 when absent) for a create in it; a namespace marked for
 * deletion takes no new content (Forbidden, as Kubernetes' namespace lifecycle admission).
 */
function namespaceRevision(type: ResourceType, name: string, namespace: string, found: KeyValue | undefined): number {
  const object = found === undefined ? undefined : decodeObject(found);
  if (object?.object.metadata.deletionTimestamp !== undefined) {
    throw new RegistryError('Forbidden', `${type.resource}${groupSuffix(type)} ${JSON.stringify(name)} is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`, details(type, name));
  }
  return found?.modRevision ?? 0;
}

/** generateName plus five characters, as Kubernetes' name generator (consonants and digits that spell no word). */
function generatedName(prefix: string): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const base = prefix.slice(0, generatedNamePrefixMax);
  let suffix = '';
  for (let i = 0; i < generatedNameSuffixLength; i += 1) suffix += alphabet[randomInt(alphabet.length)];
  return base + suffix;
}

function matches(object: StoredObject, options: ListOptions): boolean {
  return (options.labelSelector === undefined || matchesLabels(options.labelSelector, object.metadata.labels))
    && (options.fieldSelector === undefined || matchesFields(options.fieldSelector, object));
}

/** Decodes a stored value; anything that is not an object the registry wrote is skipped (undefined). */
export function decodeObject(kv: KeyValue): VersionedObject | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(kv.value));
  } catch {
    return undefined;
  }
  if (!isJson(value) || !isJson(value.metadata) || typeof value.metadata.name !== 'string' || typeof value.kind !== 'string') return undefined;
  return { object: value as StoredObject, modRevision: kv.modRevision };
}

/**
 * The stored form of an object, refused past valueBytesMax. The refusal names the size only to a caller who
 * may read the object: the size counts what a value-blind write may not see (WriteOptions.valueBlind), so a
 * write padded to just past the limit would tell it exactly, less its padding.
 */
function encodeObject(type: ResourceType, stored: StoredObject, options: Pick<WriteOptions, 'valueBlind'>): Uint8Array {
  // Every write of an object passes here: resourceVersion is the mod revision, never stored.
  assert(!('resourceVersion' in stored.metadata), `${type.kind} ${stored.metadata.name} is about to be stored with a resourceVersion`);
  const value = encoder.encode(JSON.stringify(stored));
  if (value.length > valueBytesMax) {
    const size = options.valueBlind === true ? `would be over ${valueBytesMax} bytes stored` : `is ${value.length} bytes stored, over ${valueBytesMax}`;
    throw new RegistryError('RequestEntityTooLarge', `${type.kind} ${JSON.stringify(stored.metadata.name)} ${size}`, details(type, stored.metadata.name));
  }
  return value;
}

function asBody(type: ResourceType, input: unknown): Json {
  if (!isJson(input)) throw new RegistryError('BadRequest', `the request body must be a ${type.kind} object`);
  if (input.apiVersion !== undefined && input.apiVersion !== type.apiVersion) {
    throw new RegistryError('BadRequest', `the API version in the data (${JSON.stringify(input.apiVersion).slice(0, 64)}) does not match the expected API version (${type.apiVersion})`);
  }
  if (input.kind !== undefined && input.kind !== type.kind) {
    throw new RegistryError('BadRequest', `the kind in the data (${JSON.stringify(input.kind).slice(0, 64)}) does not match the expected kind (${type.kind})`);
  }
  return input;
}

/** An applied configuration: an object naming this kind (apiVersion and kind are required), this name, and no managedFields. */
function applyBody(type: ResourceType, namespace: string | undefined, name: string, input: unknown): Json {
  const body = asBody(type, input);
  if (body.apiVersion === undefined || body.kind === undefined) throw new RegistryError('BadRequest', `an applied configuration must set apiVersion (${type.apiVersion}) and kind (${type.kind})`);
  if (body.metadata !== undefined && body.metadata !== null && !isJson(body.metadata)) throw new RegistryError('BadRequest', 'metadata must be an object');
  const meta = isJson(body.metadata) ? body.metadata : {};
  if (meta.name !== undefined && meta.name !== null && meta.name !== name) {
    throw new RegistryError('BadRequest', `the name of the object (${JSON.stringify(meta.name).slice(0, 256)}) does not match the name on the URL (${JSON.stringify(name)})`);
  }
  checkNamespaceMatch(type, namespace, typeof meta.namespace === 'string' ? meta.namespace : undefined);
  if (meta.managedFields !== undefined && meta.managedFields !== null) throw new RegistryError('BadRequest', 'metadata.managedFields must be nil in an applied configuration');
  return body;
}

function checkNamespaceMatch(type: ResourceType, namespace: string | undefined, bodyNamespace: string | undefined): void {
  if (type.namespaced && bodyNamespace !== undefined && bodyNamespace !== '' && bodyNamespace !== namespace) {
    throw new RegistryError('BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
  }
}

/** A name or namespace from a URL that no valid object could have is simply not found. */
function checkPathName(type: ResourceType, namespace: string | undefined, name: string): void {
  if (name === '' || name.includes('/') || type.nameErrors(name).length > 0) throw notFound(type, name);
  if (type.namespaced && (namespace === undefined || namespace === '' || namespace.includes('/'))) throw notFound(namespaces, namespace ?? '');
}

export function notFound(type: ResourceType, name: string): RegistryError {
  return new RegistryError('NotFound', `${type.resource}${groupSuffix(type)} ${JSON.stringify(name)} not found`, details(type, name));
}

/**
 * A delete whose uid precondition fails, in the words of the Kubernetes API server (rest.BeforeDelete). The
 * stored uid is named only to a caller who may read the object (DeleteOptions.mayRead), as a get or a list
 * would show it; to one who may only delete, it is new.
 */
function uidConflict(type: ResourceType, stored: StoredObject, precondition: string, mayRead: MayDelete | undefined): RegistryError {
  const { namespace, name, uid } = stored.metadata;
  const inRecord = mayRead === undefined || mayRead(type, namespace, name) ? ` (${uid})` : ' (not shown: you may not read the object)';
  return new RegistryError('Conflict',
    `Operation cannot be fulfilled on ${type.resource}${groupSuffix(type)} ${JSON.stringify(name)}: the UID in the precondition (${precondition}) does not match the UID in record${inRecord}. The object might have been deleted and then recreated`,
    details(type, name));
}

function conflict(type: ResourceType, name: string): RegistryError {
  return new RegistryError('Conflict', `Operation cannot be fulfilled on ${type.resource}${groupSuffix(type)} ${JSON.stringify(name)}: the object has been modified; please apply your changes to the latest version and try again`, details(type, name));
}

/**
 * Refuses (403) a write whose new references name an owner its caller may not update: otherwise anyone who
 * may create an object could make it a dependent of any object whose uid it has seen, and a delete of that
 * object by anyone who may not delete the dependent would be refused. Asked of every newly named owner,
 * existing or not, so the answer tells nothing of which do.
 */
function checkMayNameOwners(
  type: ResourceType, namespace: string | undefined, name: string, refs: readonly OwnerReference[] | undefined, stored: readonly OwnerReference[] | undefined, options: WriteOptions,
): void {
  if (options.mayNameOwner === undefined) return;
  for (const owner of ownersNewlyNamed(refs, stored, type.namespaced ? namespace : undefined)) {
    if (options.mayNameOwner(owner.type, owner.namespace, owner.name)) continue;
    throw new RegistryError('Forbidden',
      `${type.resource}${groupSuffix(type)} ${JSON.stringify(name)} is forbidden: naming ${owner.type.resource}${groupSuffix(owner.type)} ${JSON.stringify(owner.name)} as its owner needs the right to update it (an owner's dependents are deleted with it and can hold up its deletion)`,
      details(type, name));
  }
}

function groupSuffix(type: ResourceType): string {
  return type.group === '' ? '' : `.${type.group}`;
}

function details(type: ResourceType, name: string): { name: string; group: string; kind: string } {
  return { name, group: type.group, kind: type.resource };
}

function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function parseRevision(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new RegistryError('BadRequest', `resourceVersion ${JSON.stringify(text.slice(0, 32))} is not a valid revision`);
  return Number(text);
}

function keyAfter(key: Uint8Array): Uint8Array {
  const next = new Uint8Array(key.length + 1);
  next.set(key);
  return next;
}

function encodeContinue(revision: number, lastKey: Uint8Array): string {
  return encodeContinueAt(revision, keyAfter(lastKey));
}

/** A token whose page starts at `start` itself. */
function encodeContinueAt(revision: number, start: Uint8Array): string {
  return Buffer.from(JSON.stringify({ v: 1, rv: revision, start: Buffer.from(start).toString('base64') })).toString('base64url');
}

/** A continue token is opaque to clients, but is still input: its key must lie inside the listed prefix. */
function decodeContinue(token: string, prefix: Uint8Array): { revision: number; start: Uint8Array } {
  const bad = () => new RegistryError('BadRequest', 'continue key is not valid');
  if (token.length > continueTokenBytesMax) throw bad();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!isJson(value) || value.v !== 1 || typeof value.rv !== 'number' || !Number.isSafeInteger(value.rv) || value.rv <= 0 || typeof value.start !== 'string') throw bad();
  const start = new Uint8Array(Buffer.from(value.start, 'base64'));
  if (start.length <= prefix.length || !prefix.every((b, i) => start[i] === b)) throw bad();
  return { revision: value.rv, start };
}

function expiredList(): RegistryError {
  return new RegistryError('Expired', 'The resourceVersion for the provided list is too old.');
}

/** Kubernetes' answer to a resourceVersion the store has not reached: 504 Timeout, with its cause and when to retry. */
function tooLargeResourceVersion(asked: number, current: number): RegistryError {
  return new RegistryError('Timeout', `Timeout: Too large resource version: ${asked}, current: ${current}`, {
    causes: [{ field: '', reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: listTooLargeRetryAfterSeconds,
  });
}

function expiredContinue(): RegistryError {
  return new RegistryError('Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
}

export { textKey };

/**
 * A write by a caller who may not get the Secret (WriteOptions.valueBlind) to a Secret whose type asks for
 * any one of several keys (secret.ts, alternativeKeys: basic-auth's username or password): the write is
 * computed again as if the Secret held each combination of them, and if it would leave one of them in some
 * and none in others — a merge patch removing `username`, valid only where `password` is there — it is
 * refused with one fixed answer, whichever the Secret holds. Otherwise validation answers the same in
 * every case the caller cannot tell apart.
 */
function refuseBlindKeyOracle(name: string, current: VersionedObject, history: VersionHistory | undefined, compute: (current: VersionedObject, history: VersionHistory | undefined) => unknown): void {
  const keys = alternativeKeys(current.object.type);
  if (keys.length === 0) return;
  const outcomes = new Set<boolean>();
  for (let held = 1; held < 1 << keys.length; held += 1) {
    const data = dataOf(current.object);
    keys.forEach((key, i) => {
      if ((held & (1 << i)) === 0) delete data[key];
      else data[key] ??= '';
    });
    let body: unknown;
    try {
      body = compute({ ...current, object: { ...current.object, data } }, history);
    } catch {
      continue; // the write does not depend on the data for its errors (a blind apply compares none)
    }
    if (isJson(body)) outcomes.add(holdsOneOf(body, keys));
  }
  if (outcomes.size > 1) {
    throw invalidError(secrets.kind, name, secrets.group, [{
      field: 'data', reason: 'FieldValueForbidden',
      message: `Forbidden: whether this write leaves ${keys.join(' or ')} in the ${String(current.object.type)} Secret depends on which of them it holds, which only a caller who may get it may know: set one of them in the same write`,
    }]);
  }
}

/**
 * The answer to a server-side apply, without force, that sets a field the caller may not see (a Secret's
 * data or stringData, kubectl's last-applied annotation; WriteOptions.valueBlind): one fixed Conflict,
 * naming nothing the object holds — whether such a field would conflict depends on whether it exists, who
 * owns it and whether the value sent equals the stored one.
 */
function blindApplyConflict(type: ResourceType, name: string): RegistryError {
  return new RegistryError('Conflict',
    `Apply failed: ${type.resource}${groupSuffix(type)} ${JSON.stringify(name)} may be applied without force only by a caller who may get it when the configuration sets its data, stringData or kubectl's last-applied annotation (whether they conflict depends on what it holds and who set it); apply with force=true (kubectl apply --server-side --force-conflicts)`,
    details(type, name));
}

/** The object without metadata.managedFields. */
function withoutManagedFields(object: StoredObject): StoredObject {
  const { managedFields: _m, ...metadata } = object.metadata;
  return { ...object, metadata };
}

/**
 * A value-blind write (WriteOptions.valueBlind) may not set metadata.managedFields: they name the data keys
 * and who set which, so a write sending its own was an oracle — an entry claiming a data key kept it only
 * where the key exists, and entries padded to just under managedFieldsBytesMax made the refusal tell
 * whether the write took a field. The write is computed without them (replace), so whatever managedFields
 * its body holds it set; absent, null or an empty list keep the stored ones, as for anyone. Refused the
 * same whatever it sends and whatever the Secret holds, dry run or not.
 */
function refuseBlindManagedFields(name: string, body: Json): void {
  const sent = isJson(body.metadata) ? body.metadata.managedFields : undefined;
  if (sent === undefined || sent === null || (Array.isArray(sent) && sent.length === 0)) return;
  throw new RegistryError('Forbidden',
    `secrets ${JSON.stringify(name)} is forbidden: only a caller who may get the Secret may set its metadata.managedFields (they name its data keys and who set them)`,
    details(secrets, name));
}

/**
 * Which hidden fields a value-blind write sets (managed-fields/track.ts takes them all, equal to the stored
 * values or not): the write computed again on the Secret as its caller may see it (no data, no embedding
 * annotation, no managedFields: hidden-fields.ts) holds exactly those — a merge patch's keys, a PUT's whole
 * data, a rotate's keys, a promote's pending keys. Should that computation fail where the write did not,
 * the write takes every hidden field its body holds: still nothing that depends on a value.
 */
function blindWrite(given: VersionedObject, history: VersionHistory | undefined, compute: (current: VersionedObject, history: VersionHistory | undefined) => unknown, body: Json): BlindWrite {
  let seen: unknown;
  try {
    seen = compute({ ...given, object: withoutHiddenSecretFields(given.object) }, history);
  } catch {
    seen = body;
  }
  return { hiddenAt: isHiddenSecretField, sets: new FieldSet(hiddenSecretFieldsOf(isJson(seen) ? seen : body)) };
}

/** A caller who may not read an immutable Secret's values may not write it (WriteOptions.valueBlind): refused the same whatever it sends. */
function refuseBlindImmutable(current: VersionedObject, options: WriteOptions): void {
  if (options.valueBlind !== true || current.object.immutable !== true) return;
  const { name } = current.object.metadata;
  throw new RegistryError('Forbidden',
    `secrets ${JSON.stringify(name)} is forbidden: the Secret is immutable, and only a caller who may get it may write it (whether its data would change depends on its values)`,
    details(secrets, name));
}
