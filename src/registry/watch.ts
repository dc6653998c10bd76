/**
 * Watching a type (in one namespace or all) as Kubernetes does: events after a resourceVersion,
 * or — without one — an ADDED event per existing object first, then the changes. Selectors filter;
 * an object that stops matching is reported DELETED and one that starts matching ADDED, so a client
 * cache built from the stream equals a fresh filtered list.
 *
 * The objects a watch starts with are read as a list, all at one revision R, a page (listPageBytesMax) at a
 * time as the consumer takes them — never the whole list at once — and the changes follow from R + 1: the
 * store watcher is opened at R + 1 with the first page, so none is missed or repeated.
 *
 * Those objects are charged to the client's ReadAccount, if the request gives one, a page at a time: a page
 * stays charged until the consumer has taken all its events, so a client that does not read them holds
 * its user's account, not the member's memory beyond it (docs/security.md, "Slow clients").
 *
 * Progress notifications of the store become BOOKMARKs (every change up to their revision delivered).
 * A start revision at or below the compacted revision is RegistryError Expired.
 */
import { isMvccError, type KeyValue, type PageCharge, pageChargeOf, prefixEnd, type ReadAccount, type WatchEvent, type Watcher } from '../storage/mvcc/index.ts';
import { RegistryError } from './errors.ts';
import { listPrefix } from './keys.ts';
import type { RegistryKv } from './kv.ts';
import type { StoredObject, VersionedObject } from './object.ts';
import { decodeObject, type ListOptions, type ListResult, type Registry } from './registry.ts';
import type { ResourceType } from './resources.ts';
import { matchesFields, matchesLabels } from './selectors.ts';

export type RegistryEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface RegistryEvent {
  type: RegistryEventType;
  /** Absent for BOOKMARK. For DELETED: the object as it was, at the deletion's revision. */
  object?: VersionedObject;
  revision: number;
  /** On the BOOKMARK that ends the initial events of a sendInitialEvents watch. */
  initialEventsEnd?: boolean;
  /**
   * On the ADDED events of the objects a watch starts with (resourceVersion 0, sendInitialEvents): the
   * next page of them is read only as these are taken, so a consumer that waits for its client before
   * taking the next one (rather than ending a client that falls behind) holds one page at most.
   */
  initial?: boolean;
}

export interface WatchRequest {
  /** Deliver changes after this revision; absent or 0: the current objects first, as ADDED. */
  resourceVersion?: number;
  /**
   * Kubernetes' `sendInitialEvents=true` (with resourceVersionMatch=NotOlderThan): the current objects
   * first, as ADDED, read at a revision no older than resourceVersion, then a BOOKMARK marking the end
   * of them (initialEventsEnd), then the changes.
   */
  initialEvents?: boolean;
  labelSelector?: ListOptions['labelSelector'];
  fieldSelector?: ListOptions['fieldSelector'];
  /** Where the pages of the objects a watch starts with are charged while they are held. */
  account?: ReadAccount;
}

export interface RegistryWatch extends AsyncIterable<RegistryEvent> {
  requestBookmark(): void;
  cancel(): void;
}

export async function watchObjects(kv: RegistryKv, registry: Registry, type: ResourceType, namespace: string | undefined, request: WatchRequest): Promise<RegistryWatch> {
  const prefix = listPrefix(type, namespace);
  let initial: InitialPages | undefined;
  let after = request.resourceVersion ?? 0;
  if (after === 0 || request.initialEvents === true) {
    // A linearizable list: its revision is no older than any the client saw, so NotOlderThan holds.
    // Only its first page is read now (so a refusal is the watch's answer); the others as they are sent.
    const charge = pageChargeOf(request.account);
    const first = await registry.list(type, namespace, { ...filterOf(request), account: charge });
    initial = { registry, type, namespace, first, charge };
    after = first.revision;
  } else if (after < kv.mvcc().compactRevision()) {
    throw new RegistryError('Expired', `too old resource version: ${after} (${kv.mvcc().compactRevision()})`);
  }
  const watcher = kv.mvcc().watch({ key: prefix, end: prefixEnd(prefix), startRevision: after + 1, prevKv: true });
  return new FilteredWatch(watcher, initial, request);
}

/** The list a watch starts with: its first page, read before the watch starts, and where the next ones are. */
interface InitialPages {
  registry: Registry;
  type: ResourceType;
  namespace: string | undefined;
  first: ListResult;
  /** What the page being sent holds of the client's account. */
  charge: PageCharge | undefined;
}

/**
 * The store hands every watcher of a change the same KeyValue, so each is decoded once however many
 * watchers see it (a 1 MB Secret watched a hundred times is parsed once, not a hundred times).
 */
const decodedValues = new WeakMap<KeyValue, VersionedObject | null>();

function decodeShared(kv: KeyValue): VersionedObject | undefined {
  let decoded = decodedValues.get(kv);
  if (decoded === undefined) {
    decoded = decodeObject(kv) ?? null;
    decodedValues.set(kv, decoded);
  }
  return decoded ?? undefined;
}

function filterOf(request: WatchRequest): ListOptions {
  return {
    ...(request.labelSelector ? { labelSelector: request.labelSelector } : {}),
    ...(request.fieldSelector ? { fieldSelector: request.fieldSelector } : {}),
  };
}

class FilteredWatch implements RegistryWatch {
  private cancelled = false;

  constructor(private readonly watcher: Watcher, private readonly initial: InitialPages | undefined, private readonly request: WatchRequest) {}

  requestBookmark(): void {
    this.watcher.requestProgress();
  }

  cancel(): void {
    this.cancelled = true;
    this.watcher.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<RegistryEvent> {
    if (this.initial !== undefined) yield* this.initialEvents(this.initial);
    try {
      for await (const response of this.watcher) {
        if (response.progress === true && response.events.length === 0) {
          yield { type: 'BOOKMARK', revision: response.revision };
          continue;
        }
        for (const event of response.events) {
          const translated = this.translate(event);
          if (translated !== undefined) yield translated;
        }
      }
    } catch (error) {
      if (isMvccError(error) && error.code === 'E_COMPACTED') {
        throw new RegistryError('Expired', `too old resource version: the history was compacted at ${error.compactRevision ?? 0}`);
      }
      throw error;
    }
  }

  /**
   * The list's objects as ADDED events, a page at a time: the next page is read (at the first page's
   * revision) only once the consumer has taken every event of this one, and an event taken is no longer
   * held here — so a consumer that waits for its client holds one page at most.
   */
  private async *initialEvents({ registry, type, namespace, first, charge }: InitialPages): AsyncGenerator<RegistryEvent> {
    let page: ListResult | undefined = first;
    try {
      while (page !== undefined) {
        const { items, continueToken } = page;
        page = undefined;
        for (let i = 0; i < items.length; i += 1) {
          if (this.cancelled) return;
          const item = items[i]!;
          items[i] = undefined as unknown as VersionedObject;
          yield { type: 'ADDED', object: item, revision: item.modRevision, initial: true };
        }
        charge?.giveBack();
        if (this.cancelled) return;
        if (continueToken !== undefined) {
          // Read where the first page was, so never linearizably again; a compacted revision is Expired.
          page = await registry.list(type, namespace, { ...filterOf(this.request), continueToken, linearizable: false, account: charge });
        }
      }
    } finally {
      charge?.giveBack();
    }
    if (this.request.initialEvents === true) yield { type: 'BOOKMARK', revision: first.revision, initialEventsEnd: true };
  }

  private translate(event: WatchEvent): RegistryEvent | undefined {
    const revision = event.kv.modRevision;
    const previous = event.prevKv ? decodeShared(event.prevKv) : undefined;
    const wasIn = previous !== undefined && this.selects(previous.object);
    if (event.type === 'delete') {
      return wasIn ? { type: 'DELETED', object: { object: previous.object, modRevision: revision }, revision } : undefined;
    }
    const current = decodeShared(event.kv);
    const isIn = current !== undefined && this.selects(current.object);
    if (isIn) return { type: previous === undefined ? 'ADDED' : wasIn ? 'MODIFIED' : 'ADDED', object: current, revision };
    if (wasIn) return { type: 'DELETED', object: { object: previous.object, modRevision: revision }, revision };
    return undefined;
  }

  private selects(object: StoredObject): boolean {
    return (this.request.labelSelector === undefined || matchesLabels(this.request.labelSelector, object.metadata.labels))
      && (this.request.fieldSelector === undefined || matchesFields(this.request.fieldSelector, object));
  }
}
