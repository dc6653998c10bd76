/**
 * The Kubernetes-shaped resource API: for every type of the registry, the collection and item paths
 * of the README with GET (get, list, watch), POST, PUT, PATCH and DELETE; lists across all
 * namespaces for namespaced kinds; Tables for kubectl; watch streams of `{"type","object"}` lines.
 *
 * Authorization already happened (app.ts) for the request as a whole. Two finer decisions are made
 * here: a write of an RBAC object must pass Kubernetes' escalation check (rbac.authorizeRbacWrite) and
 * keep the RBAC objects under rbacObjectsBytesMax, and is answered once this member's policy includes it;
 * and a list or watch of Secrets carries values only for the objects the caller may `get` — the
 * others come without `data`, marked with the annotation `coffer.dev/data-redacted: "true"` (an
 * object so marked is refused on write, so a redacted copy cannot overwrite the real values).
 *
 * Responses are built by registry.present from known fields only. A list page holds at most
 * listPageBytesMax of objects; a list asked without `limit` is answered whole, written a page at a time
 * as the pages are read (listText), and a watch sends the objects it starts with a page at a time, each
 * once its client has read what it was sent (WatchStream.room) — so neither holds more than about a page.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock, TimerHandle } from '../../base/index.ts';
import { Readable } from 'node:stream';
import { listPageItemsMax, rbacObjectsBytesMax, watchBookmarkIntervalMs } from '../../config/index.ts';
import {
  authorizeRbacWrite, parseRbacObject, rbacApiGroup,
} from '../../rbac/index.ts';
import {
  isHiddenSecretPath, isInsideHiddenSecretValue, parseFieldSelector, parseLabelSelector, parseRevision, rbacResourceTypes, type Registry, RegistryError, resourceTypes, secrets,
  watchObjects, type FieldSelector, type Json, type LabelSelector, type ListResult, type RegistryKv, type ResourceType, type StatusCause, type StoredObject, type VersionedObject, type WriteGuard,
} from '../../registry/index.ts';
import { parsedRequest } from '../request.ts';
import { type EncodedLine, encodeLine, type WatchStreams } from '../watch-stream.ts';
import { callerFor, type Caller, forbiddenMessage, isAllowed, isMaster } from './authorization.ts';
import { readAccountOf } from '../held-bytes.ts';
import { applyPatch, jsonPatchAsSeen, patchTypeOf, pointerSegments } from './patch.ts';
import type { PolicyHolder } from './policy-holder.ts';
import { mayGetSecret, presentFor, redactedAnnotation } from './presentation.ts';
import { applyOptionsOf, deleteOptionsOf, writeOptionsOf } from './write-options.ts';
import { checkStrictFields } from './strict.ts';
import { refuseOversizedMaps } from './oversized-maps.ts';
import { K8sForbiddenError, status, toStatus } from './status.ts';
import { registerSecretVersionRoutes } from './secret-versions.ts';
import { toTable } from './table.ts';
import { negotiate, partialObjectMetadata, type Representation } from './negotiation.ts';
import { invalidListOptions, listRevisionOf } from './list-options.ts';
import { auditInEntryRoute } from '../route-config.ts';

export interface K8sRoutesOptions {
  kv: RegistryKv;
  registry: Registry;
  policy: PolicyHolder;
  clock: Clock;
  watches: WatchStreams;
}

type Query = Record<string, unknown>;
type Params = { namespace?: string; name?: string };

export function registerK8sRoutes(app: FastifyInstance, options: K8sRoutesOptions): void {
  for (const type of resourceTypes) registerType(app, type, options);
  registerSecretVersionRoutes(app, options);
}

/** One resource type's routes: where they are, and what every handler of the type shares. */
interface TypeRoutes {
  type: ResourceType;
  options: K8sRoutesOptions;
  /** `/api/v1` or `/apis/<group>/v1`. */
  base: string;
  collection: string;
  item: string;
  /** A write to an RBAC object answers once the policy reflects it. */
  isRbac: boolean;
}

function registerType(app: FastifyInstance, type: ResourceType, options: K8sRoutesOptions): void {
  const base = type.group === '' ? '/api/v1' : `/apis/${type.group}/v1`;
  const collection = type.namespaced ? `${base}/namespaces/:namespace/${type.resource}` : `${base}/${type.resource}`;
  const routes: TypeRoutes = { type, options, base, collection, item: `${collection}/:name`, isRbac: rbacResourceTypes.includes(type) };
  registerReads(app, routes);
  registerWrites(app, routes);
  registerDeletes(app, routes);
}

/** list (or watch) a collection, in one namespace or across all; get (or watch) one object. */
function registerReads(app: FastifyInstance, routes: TypeRoutes): void {
  const { type, options, base, collection, item } = routes;
  const { registry, policy } = options;
  app.get(collection, (request, reply) => listObjects(request, reply, (request.params as Params).namespace, routes));
  if (type.namespaced) app.get(`${base}/${type.resource}`, (request, reply) => listObjects(request, reply, undefined, routes));

  app.get(item, async (request, reply) => {
    const { namespace, name = '' } = request.params as Params;
    if (parsedRequest(request.raw).watch) {
      // As Kubernetes serves it: a watch of this one object (authorized as `watch` on its name).
      const query = request.query as Query;
      const nameOnly = { field: 'metadata.name', equal: true, value: name } as const;
      const fieldSelector = [...(optional(query, 'fieldSelector', (text) => parseFieldSelector(text, type.selectableFields)) ?? []), nameOnly];
      return serveWatch(request, reply, type, namespace, { labelSelector: optional(query, 'labelSelector', parseLabelSelector), fieldSelector }, options);
    }
    const representation = negotiate(request.headers.accept, 'object');
    const found = await registry.get(type, namespace, name, { linearizable: linearizable(request.query as Query), account: readAccountOf(callerFor(request)) });
    const presented = presentFor(type, found, callerFor(request), policy);
    if (representation.view === 'Table') {
      return toTable(type, [{ versioned: found, presented }], { apiVersion: representation.apiVersion, includeObject: text(request.query as Query, 'includeObject') === 'Object', nowMs: options.clock.nowMs(), resourceVersion: String(found.modRevision) });
    }
    if (representation.view === 'PartialObjectMetadata') return partialObjectMetadata(presented, representation.apiVersion);
    return presented;
  });
}

async function listObjects(request: FastifyRequest, reply: FastifyReply, namespace: string | undefined, routes: TypeRoutes): Promise<unknown> {
  const { type, options } = routes;
  const { registry, policy } = options;
  const query = request.query as Query;
  const labelSelector = optional(query, 'labelSelector', parseLabelSelector);
  const fieldSelector = optional(query, 'fieldSelector', (text) => parseFieldSelector(text, type.selectableFields));
  if (parsedRequest(request.raw).watch) return serveWatch(request, reply, type, namespace, { labelSelector, fieldSelector }, options);
  const representation = negotiate(request.headers.accept, 'list');
  const limit = optional(query, 'limit', (v) => {
    if (!/^\d{1,9}$/.test(v)) throw new RegistryError('BadRequest', `limit ${JSON.stringify(v.slice(0, 32))} is not a non-negative integer`);
    return Number(v);
  });
  const continueToken = text(query, 'continue');
  // The revision asked for (resourceVersion, resourceVersionMatch): a later page follows its continue
  // token, which carries the first page's revision.
  const at = listRevisionOf(text(query, 'resourceVersion'), text(query, 'resourceVersionMatch'), limit, continueToken);
  const filters = { ...(labelSelector ? { labelSelector } : {}), ...(fieldSelector ? { fieldSelector } : {}) };
  // The first page is charged to the caller's account as it is read; a page after it is read while the
  // answer streams, and held to the answer timeout (unread-answers.ts).
  const result = await registry.list(type, namespace, {
    linearizable: linearizable(query), account: readAccountOf(callerFor(request)), ...filters, ...at,
    ...(limit !== undefined ? { limit } : {}), ...(continueToken ? { continueToken } : {}),
  });
  const caller = callerFor(request);
  const shape = listShape(type, representation, text(query, 'includeObject') === 'Object', options.clock.nowMs());
  const item = (versioned: VersionedObject): Json => shape.item({ versioned, presented: presentFor(type, versioned, caller, policy) });
  // A page ended at listPageBytesMax, for a caller that gave no limit: it asked for the whole list in one
  // answer, as Kubernetes gives it (a client such as client-node's informer does not follow a continue it
  // did not ask for). The answer is written a page at a time as the pages are read (at the first one's
  // revision), so it holds about one page whatever the list's size.
  if (result.continueToken !== undefined && (limit === undefined || limit === 0)) {
    const next = (token: string, taken: number) => registry.list(type, namespace, { ...filters, continueToken: token, limit: listPageItemsMax - taken, linearizable: false });
    return reply.type('application/json; charset=utf-8').send(Readable.from(listText(shape, result, next, item), { objectMode: false }));
  }
  return { ...shape.head, [shape.itemsKey]: result.items.map(item), metadata: listMeta(result) };
}

/** What a list answer is made of, in the representation asked for: its fields before the items, and each item. */
interface ListShape {
  head: Json;
  itemsKey: 'items' | 'rows';
  item: (shown: { versioned: VersionedObject; presented: Json }) => Json;
}

function listShape(type: ResourceType, representation: Representation, includeObject: boolean, nowMs: number): ListShape {
  if (representation.view === 'Table') {
    const { columnDefinitions } = toTable(type, [], { apiVersion: representation.apiVersion, includeObject, nowMs, resourceVersion: '' });
    return {
      head: { kind: 'Table', apiVersion: representation.apiVersion, columnDefinitions }, itemsKey: 'rows',
      item: (shown) => (toTable(type, [shown], { apiVersion: representation.apiVersion, includeObject, nowMs, resourceVersion: '' }).rows as Json[])[0]!,
    };
  }
  if (representation.view === 'PartialObjectMetadataList') {
    return { head: { kind: 'PartialObjectMetadataList', apiVersion: representation.apiVersion }, itemsKey: 'items', item: (shown) => partialObjectMetadata(shown.presented, representation.apiVersion) };
  }
  return { head: { kind: type.listKind, apiVersion: type.apiVersion }, itemsKey: 'items', item: (shown) => shown.presented };
}

function listMeta(page: ListResult): Json {
  return { resourceVersion: String(page.revision), ...(page.continueToken !== undefined ? { continue: page.continueToken } : {}) };
}

/**
 * A whole list as JSON text, a page at a time as the pages are read (listJson), its metadata last: its
 * `continue` is known only at the end (a list still stops at listPageItemsMax objects). A page that
 * cannot be read (its revision compacted meanwhile) cuts the answer short.
 */
function listText(shape: ListShape, first: ListResult, next: (token: string, taken: number) => Promise<ListResult>, item: (versioned: VersionedObject) => Json): AsyncGenerator<string> {
  let page = first;
  async function* pages(): AsyncGenerator<Json[]> {
    let taken = 0;
    for (;;) {
      yield page.items.map(item);
      taken += page.items.length;
      if (page.continueToken === undefined || taken >= listPageItemsMax) return;
      page = await next(page.continueToken, taken);
    }
  }
  return listJson(shape.head, shape.itemsKey, pages(), () => listMeta(page));
}

/**
 * A list as JSON text, in pieces: the head's fields, then the items of each page as the page comes — the
 * next page only once the reader has taken this one's (a Readable asks for more as its client reads) —
 * then `metadata`, last. A page that fails cuts the answer short, as a broken connection would: the
 * client sees no complete list.
 */
async function* listJson(head: Json, itemsKey: string, pages: AsyncIterable<Json[]>, metadata: () => Json | Promise<Json>): AsyncGenerator<string> {
  const text = JSON.stringify(head);
  yield `${text.slice(0, -1)},${JSON.stringify(itemsKey)}:[`;
  let separator = '';
  for await (const items of pages) {
    for (const item of items) {
      yield `${separator}${JSON.stringify(item)}`;
      separator = ',';
    }
  }
  yield `],"metadata":${JSON.stringify(await metadata())}}`;
}

/** create, update (PUT), patch — server-side apply among the patches. */
function registerWrites(app: FastifyInstance, routes: TypeRoutes): void {
  const { type, options, collection, item, isRbac } = routes;
  const { registry, policy } = options;
  const writeRoute = { ...auditInEntryRoute, ...refuseOversizedMaps(type) };
  app.post(collection, writeRoute, async (request, reply) => {
    const { namespace } = request.params as Params;
    if (strict(request)) checkStrictFields(type, request.body);
    const write = writeOptionsOf(request, policy);
    const created = await registry.create(type, namespace, request.body, guardFor(type, isRbac, callerFor(request), policy), write);
    if (isRbac && !write.dryRun) await waitForPolicy(policy, reply, created.modRevision);
    return reply.code(201).send(presentFor(type, created, callerFor(request), policy));
  });

  app.put(item, writeRoute, async (request, reply) => {
    const { namespace, name = '' } = request.params as Params;
    if (strict(request)) checkStrictFields(type, request.body);
    const write = writeOptionsOf(request, policy);
    const updated = await registry.update(type, namespace, name, request.body, guardFor(type, isRbac, callerFor(request), policy), write);
    if (isRbac && !write.dryRun) await waitForPolicy(policy, reply, updated.modRevision);
    return presentFor(type, updated, callerFor(request), policy);
  });

  app.patch(item, writeRoute, async (request, reply) => {
    const { namespace, name = '' } = request.params as Params;
    const patchType = patchTypeOf(request.headers['content-type']);
    if (patchType === undefined) {
      return reply.code(415).send(toStatus(Object.assign(new Error('unsupported'), { statusCode: 415 })));
    }
    if (patchType === 'apply') return serverSideApply(request, reply, type, isRbac, options);
    if (patchType === 'json') checkJsonPatchReads(request, type, policy);
    const write = writeOptionsOf(request, policy);
    const patched = await registry.patch(type, namespace, name, (current) => {
      // A caller who may not get the Secret patches what it may see: whether an operation succeeds depends on nothing hidden.
      const next = patchType === 'json' && write.valueBlind ? jsonPatchAsSeen(current, request.body) : applyPatch(patchType, current, request.body);
      if (strict(request)) checkStrictFields(type, next);
      return next;
    }, guardFor(type, isRbac, callerFor(request), policy), write);
    if (isRbac && !write.dryRun) await waitForPolicy(policy, reply, patched.modRevision);
    return presentFor(type, patched, callerFor(request), policy);
  });
}

/** deletecollection and delete. */
function registerDeletes(app: FastifyInstance, routes: TypeRoutes): void {
  const { type, options, collection, item, isRbac } = routes;
  const { registry, policy } = options;
  // deletecollection: what the selectors match, each deleted as one DELETE would; the answer lists them (values
  // only for callers who may get them), written a page at a time as each page is deleted (registry
  // deleteCollection), so it is never held whole. The first page is deleted before the answer begins: a
  // refusal there is a Status; one on a later page cuts the answer short (the client sees no complete list),
  // as does a client that stops reading — which also stops the deletion there, as a cancelled request
  // stops the API server's. An RBAC collection's answer ends once this member's policy includes the
  // deletions (its Warning cannot follow headers already sent).
  app.delete(collection, auditInEntryRoute, async (request, reply) => {
    const { namespace } = request.params as Params;
    const query = request.query as Query;
    const labelSelector = optional(query, 'labelSelector', parseLabelSelector);
    const fieldSelector = optional(query, 'fieldSelector', (text) => parseFieldSelector(text, type.selectableFields));
    const write = deleteOptionsOf(request, policy);
    const deletions = registry.deleteCollection(type, namespace, { ...(labelSelector ? { labelSelector } : {}), ...(fieldSelector ? { fieldSelector } : {}), ...write });
    const first = await deletions.next();
    const caller = callerFor(request);
    async function* pages(): AsyncGenerator<Json[]> {
      for (let page = first; page.done !== true; page = await deletions.next()) yield page.value.map((d) => presentFor(type, d.object, caller, policy));
    }
    const metadata = async (): Promise<Json> => {
      if (isRbac && !write.dryRun) await policy.waitFor(options.kv.mvcc().currentRevision());
      return { resourceVersion: String(options.kv.mvcc().currentRevision()) };
    };
    const text = listJson({ kind: type.listKind, apiVersion: type.apiVersion }, 'items', pages(), metadata);
    return reply.type('application/json; charset=utf-8').send(Readable.from(text, { objectMode: false }));
  });

  app.delete(item, auditInEntryRoute, async (request, reply) => {
    const { namespace, name = '' } = request.params as Params;
    const deleteOptions = deleteOptionsOf(request, policy);
    const deleted = await registry.delete(type, namespace, name, deleteOptions);
    if (isRbac && deleteOptions.dryRun !== true) await waitForPolicy(policy, reply, options.kv.mvcc().currentRevision());
    // Still stored (finalizers hold it, or a namespace being emptied): 202 with the object, as the API server answers.
    if (deleted.pending) return reply.code(202).send(presentFor(type, deleted.object, callerFor(request), policy));
    return {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
      details: { name: deleted.object.object.metadata.name, group: type.group, kind: type.resource, uid: deleted.object.object.metadata.uid },
    };
  });
}

/** JSON Patch operations that read the object they patch: copy and move take a value from it, test compares one. */
const readingJsonPatchOps: ReadonlySet<unknown> = new Set(['copy', 'move', 'test']);
/** Operations that fail where their path is absent: on a field the caller may not see they tell whether it exists. */
const existenceJsonPatchOps: ReadonlySet<unknown> = new Set(['remove', 'replace']);

/**
 * Whether a JSON patch operation reads the Secret it patches (see checkJsonPatchReads): copy, move and
 * test, whatever their paths; remove and replace at or below a hidden field (a data key, managedFields,
 * kubectl's last-applied annotation: registry/hidden-fields.ts); add strictly inside a hidden value (below
 * a data key, inside managedFields), which succeeds only where the hidden structure is what it expects.
 * Paths are read as the patch reads them (`~1`, `~0` unescaped); one that does not parse is left to the
 * patch, which refuses it the same for every object.
 */
function readsSecret(op: unknown): boolean {
  if (typeof op !== 'object' || op === null) return false;
  const { op: name, path } = op as Record<string, unknown>;
  if (readingJsonPatchOps.has(name)) return true;
  const segments = typeof path === 'string' ? pointerSegments(path) : undefined;
  if (segments === undefined) return false;
  if (existenceJsonPatchOps.has(name)) return isHiddenSecretPath(segments);
  return name === 'add' && isInsideHiddenSecretValue(segments);
}

/**
 * A JSON patch that reads a Secret — copies or moves a value into a field the answer and lists show,
 * tests a guess against it, or removes, replaces or adds inside a field the caller may not see, which
 * fails or not by what is there — needs `get` on it, as an etcd txn compare does (docs/security.md);
 * refused with 403 before anything is read or written. What such a caller may still send is evaluated on
 * the object as it may see it (jsonPatchAsSeen), so no answer depends on what is hidden. A merge patch
 * removes or sets a key without telling whether it was there.
 */
function checkJsonPatchReads(request: FastifyRequest, type: ResourceType, policy: PolicyHolder): void {
  const operations: unknown = request.body;
  if (type !== secrets || !Array.isArray(operations)) return;
  if (!operations.some(readsSecret)) return;
  const { namespace, name = '' } = request.params as Params;
  const caller = callerFor(request);
  if (mayGetSecret(caller, policy, namespace ?? '', name)) return;
  const get = { ...parsedRequest(request.raw).info, verb: 'get' };
  throw new K8sForbiddenError(`${forbiddenMessage(caller, get)}: a JSON patch's copy, move and test operations, and its remove, replace or add inside a field hidden from you (data, managedFields, kubectl's last-applied annotation), read the Secret`, { name, group: type.group, kind: type.resource });
}

/**
 * Server-side apply: authorized as `patch` (the gate), and as `create` too when the object is absent,
 * as the API server does; 201 when it created the object. A caller who may not get a Secret applies
 * blind (registry/managed-fields/apply.ts), so neither a conflict nor the answer tells it anything about
 * the values; the answer carries values only for callers who may get them (presentFor).
 */
async function serverSideApply(request: FastifyRequest, reply: FastifyReply, type: ResourceType, isRbac: boolean, options: K8sRoutesOptions): Promise<FastifyReply> {
  const { namespace, name = '' } = request.params as Params;
  const { registry, policy } = options;
  const write = writeOptionsOf(request, policy);
  const { manager, force } = applyOptionsOf(request);
  if (strict(request)) checkStrictFields(type, request.body);
  const caller = callerFor(request);
  const info = parsedRequest(request.raw).info;
  const result = await registry.apply(type, namespace, name, request.body, {
    manager, force,
    authorizeCreate: () => {
      const create = { ...info, verb: 'create' };
      if (!isAllowed(policy.policy, caller, create)) throw new K8sForbiddenError(forbiddenMessage(caller, create), { name, group: type.group, kind: type.resource });
    },
  }, guardFor(type, isRbac, caller, policy), write);
  if (isRbac && !write.dryRun) await waitForPolicy(policy, reply, result.object.modRevision);
  return reply.code(result.created ? 201 : 200).send(presentFor(type, result.object, caller, policy));
}

/**
 * After an RBAC write is stored: waits (at most rbacPolicyWaitMs) for this member's policy to include it,
 * so the writer's next request sees it. If it does not, the write still succeeded and is answered so,
 * with a Kubernetes Warning header (kubectl prints it) saying the change is not in force here yet — never
 * with an error for a write that was made.
 */
async function waitForPolicy(policy: PolicyHolder, reply: FastifyReply, revision: number): Promise<void> {
  if (await policy.waitFor(revision)) return;
  void reply.header('warning', `299 - "the change is stored (resourceVersion ${revision}) but this member's RBAC policy does not include it yet (it is at ${policy.loadedRevision}); it takes effect once the policy catches up, see /readyz?verbose"`);
}

/**
 * Refuses a write that would take the RBAC objects stored past rbacObjectsBytesMax (413, before
 * anything is stored), for callers outside system:masters; one that does not grow them always passes. The
 * sizes are the objects' JSON, about what the store holds; the total is the policy's (see the limit).
 */
function checkRbacBytes(type: ResourceType, next: StoredObject, current: StoredObject | undefined, policy: PolicyHolder): void {
  const growth = Buffer.byteLength(JSON.stringify(next)) - (current === undefined ? 0 : Buffer.byteLength(JSON.stringify(current)));
  if (growth <= 0 || policy.rbacBytes + growth <= rbacObjectsBytesMax) return;
  throw new RegistryError('RequestEntityTooLarge', `${type.resource}.${rbacApiGroup} ${JSON.stringify(next.metadata.name)}: the RBAC objects stored would pass rbacObjectsBytesMax (${rbacObjectsBytesMax} bytes); nothing was stored`, {
    name: next.metadata.name, group: type.group, kind: type.resource,
  });
}

/** Refuses redacted copies, RBAC objects past rbacObjectsBytesMax, and RBAC objects that would grant the caller more than it holds. */
function guardFor(type: ResourceType, isRbac: boolean, caller: Caller, policy: PolicyHolder): WriteGuard {
  return (next: StoredObject, current: StoredObject | undefined) => {
    if (next.metadata.annotations?.[redactedAnnotation] !== undefined) {
      throw new RegistryError('Invalid', `${type.kind} ${JSON.stringify(next.metadata.name)} is invalid: metadata.annotations: Forbidden: ${redactedAnnotation} marks a copy whose data was redacted; read the object with get before writing it`, {
        name: next.metadata.name, group: type.group, kind: type.resource,
        causes: [{ field: `metadata.annotations[${redactedAnnotation}]`, message: 'Forbidden: a redacted copy may not be written back', reason: 'FieldValueForbidden' }],
      });
    }
    if (!isRbac || isMaster(caller)) return;
    checkRbacBytes(type, next, current, policy);
    const decision = authorizeRbacWrite(policy.policy, caller, parseRbacObject(next));
    if (!decision.allowed) {
      throw new RegistryError('Forbidden', `${type.resource}.${rbacApiGroup} ${JSON.stringify(next.metadata.name)} is forbidden: user ${JSON.stringify(caller.user)} is attempting to grant RBAC permissions not currently held: ${decision.reason}`, {
        name: next.metadata.name, group: type.group, kind: type.resource,
      });
    }
  };
}

async function serveWatch(
  request: FastifyRequest, reply: FastifyReply, type: ResourceType, namespace: string | undefined,
  filters: { labelSelector: LabelSelector | undefined; fieldSelector: FieldSelector | undefined }, options: K8sRoutesOptions,
): Promise<void> {
  const query = request.query as Query;
  const rvText = text(query, 'resourceVersion');
  const resourceVersion = rvText === undefined || rvText === '' ? 0 : parseRevision(rvText);
  const timeoutText = text(query, 'timeoutSeconds');
  const timeoutSeconds = timeoutText === undefined ? undefined : /^\d{1,6}$/.test(timeoutText) ? Number(timeoutText) : undefined;
  const bookmarks = text(query, 'allowWatchBookmarks') === 'true';
  const initialEvents = initialEventsOf(query, bookmarks);
  const representation = negotiate(request.headers.accept, 'watch');
  const includeObject = text(query, 'includeObject') === 'Object';
  const caller = callerFor(request);
  // The objects it starts with are charged to the caller's account while the watch holds them (a
  // watch's stream has no answer whose sending would settle it: it is settled when the stream ends).
  const account = readAccountOf(caller);
  const watch = await watchObjects(options.kv, options.registry, type, namespace, {
    resourceVersion, initialEvents, account, ...(filters.labelSelector ? { labelSelector: filters.labelSelector } : {}), ...(filters.fieldSelector ? { fieldSelector: filters.fieldSelector } : {}),
  });

  const timers: TimerHandle[] = [];
  let stream;
  try {
    const { info } = parsedRequest(request.raw);
    stream = options.watches.start(request, reply, () => watch.cancel(), () => isAllowed(options.policy.policy, caller, info));
  } catch (error) {
    watch.cancel();
    throw error;
  }
  if (timeoutSeconds !== undefined && timeoutSeconds > 0) timers.push(options.clock.setTimer(timeoutSeconds * 1000, () => watch.cancel()));
  if (bookmarks) {
    const arm = () => {
      timers.push(options.clock.setTimer(watchBookmarkIntervalMs, () => {
        watch.requestBookmark();
        arm();
      }));
    };
    arm();
  }
  const tooSlow = () => JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', 'the watch fell too far behind its client; list again and watch from the new resourceVersion') });
  let first = true;
  // The objects the watch starts with, and the first event after them, wait for the client to read what
  // it holds unsent (stream.room): the next page of them is read only then. Later events end a client
  // that falls behind (stream.send).
  let paced = false;
  try {
    for await (const event of watch) {
      const pace = paced || event.initial === true;
      paced = event.initial === true;
      if (pace && !await stream.room(tooSlow)) break;
      let line: string | EncodedLine;
      if (event.type === 'BOOKMARK') {
        if (!bookmarks) continue;
        const metadata = { resourceVersion: String(event.revision), ...(event.initialEventsEnd === true ? { annotations: { [initialEventsEndAnnotation]: 'true' } } : {}) };
        const bookmark = { kind: type.kind, apiVersion: type.apiVersion, metadata };
        line = JSON.stringify({ type: 'BOOKMARK', object: representation.view === 'PartialObjectMetadata' ? partialObjectMetadata(bookmark, representation.apiVersion) : bookmark });
      } else {
        const versioned = event.object!;
        if (representation.view === 'Table') {
          const presented = presentFor(type, versioned, caller, options.policy);
          line = JSON.stringify({ type: event.type, object: toTable(type, [{ versioned, presented }], { apiVersion: representation.apiVersion, includeObject, nowMs: options.clock.nowMs(), resourceVersion: String(event.revision), withoutColumns: !first }) });
        } else if (representation.view === 'PartialObjectMetadata') {
          line = JSON.stringify({ type: event.type, object: partialObjectMetadata(presentFor(type, versioned, caller, options.policy), representation.apiVersion) });
        } else {
          line = eventLine(event.type, versioned, () => presentFor(type, versioned, caller, options.policy));
        }
        first = false;
      }
      if (!stream.send(line, tooSlow)) break;
    }
    stream.end();
  } catch (error) {
    stream.finishWith(JSON.stringify({ type: 'ERROR', object: toStatus(error) }));
  } finally {
    for (const t of timers) t.cancel();
    watch.cancel();
    account?.settle();
  }
}

/** Marks the bookmark that ends a sendInitialEvents watch's initial events (Kubernetes' name). */
const initialEventsEndAnnotation = 'k8s.io/initial-events-end';

/**
 * `sendInitialEvents=true` asks for the current objects first, then a bookmark, then changes; as the
 * Kubernetes API server 1.32, it requires resourceVersionMatch=NotOlderThan and allowWatchBookmarks,
 * and resourceVersionMatch on a watch requires sendInitialEvents.
 */
function initialEventsOf(query: Query, bookmarks: boolean): boolean {
  const send = text(query, 'sendInitialEvents');
  const match = text(query, 'resourceVersionMatch');
  const causes: StatusCause[] = [];
  if (send !== undefined && send !== 'true' && send !== 'false') causes.push({ field: 'sendInitialEvents', message: 'Invalid value: must be true or false', reason: 'FieldValueInvalid' });
  if (send === undefined && match !== undefined) {
    causes.push({ field: 'resourceVersionMatch', message: 'Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided', reason: 'FieldValueForbidden' });
  }
  if (send !== undefined && match !== 'NotOlderThan') {
    causes.push({ field: 'resourceVersionMatch', message: 'Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan', reason: 'FieldValueForbidden' });
  }
  if (send === 'true' && !bookmarks) causes.push({ field: 'allowWatchBookmarks', message: 'Forbidden: allowWatchBookmarks required when sendInitialEvents is true', reason: 'FieldValueForbidden' });
  if (causes.length > 0) throw invalidListOptions(causes);
  return send === 'true';
}

/**
 * The lines already made for an object, by event type and presentation: every watcher of a change gets
 * the same decoded object (registry/watch.ts), so watchers that see it the same way share one line
 * instead of each serializing a copy.
 */
const eventLines = new WeakMap<VersionedObject, Map<string, EncodedLine>>();

function eventLine(type: string, versioned: VersionedObject, present: () => Json): EncodedLine {
  const presented = present();
  const redacted = (presented.metadata as { annotations?: Record<string, string> } | undefined)?.annotations?.[redactedAnnotation] === 'true';
  const key = `${type}:${redacted ? 'redacted' : 'whole'}`;
  let lines = eventLines.get(versioned);
  if (lines === undefined) eventLines.set(versioned, (lines = new Map<string, EncodedLine>()));
  let line = lines.get(key);
  if (line === undefined) {
    line = encodeLine(JSON.stringify({ type, object: presented }));
    lines.set(key, line);
  }
  return line;
}

function strict(request: FastifyRequest): boolean {
  return text(request.query as Query, 'fieldValidation') === 'Strict';
}

/** Reads are linearizable unless the request asks for `consistency=serializable` (this member's own state). */
function linearizable(query: Query): boolean {
  return text(query, 'consistency') !== 'serializable';
}

function text(query: Query, key: string): string | undefined {
  const value = query[key];
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

function optional<T>(query: Query, key: string, parse: (value: string) => T): T | undefined {
  const value = text(query, key);
  return value === undefined || value === '' ? undefined : parse(value);
}
