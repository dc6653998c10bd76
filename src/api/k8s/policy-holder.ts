/**
 * The compiled RBAC policy this member authorizes with, kept equal to the RBAC objects in its local
 * store: read at start, and brought up to the store again whenever a watch on the four RBAC prefixes
 * reports a change.
 *
 * How a change is taken in (incrementally, from what changed): the holder keeps every RBAC object it
 * read, parsed, with its key and mod revision. Bringing the policy up to the store's current revision R
 * reads, at R, the keys only of the four prefixes (their mod revisions, no values: pages of
 * listPageItemsMax keys), then the value of each key that is new or whose mod revision differs from the
 * one held (one key at a time), and drops the keys no longer there. The policy is then compiled from the
 * objects held, reusing the compiled rules of every role that did not change (rbac/compile.ts,
 * CompiledRulesCache): a change costs reading and parsing the objects that changed, plus walking the
 * in-memory index of RBAC keys and indexing the bindings again — not re-reading and re-parsing
 * everything, which made N changes cost N times all RBAC bytes (1.3–1.7 s of blocked event loop per
 * write once they neared 64 MiB). The first read, and the first after a snapshot install replaced the
 * store, reads the values too, in pages of at most listPageBytesMax bytes (as the registry's lists do).
 * Every read is one bounded store range at revision R, never one range over all of them (which
 * rangeResultBytesMax refused past 64 MiB, so the policy stopped following the store and a restarted
 * member could not start); the event loop gets a turn between pages.
 *
 * Reads are coalesced: at most one runs, and at most one more is pending; the pending one starts after it
 * and reads the store as it is then, so it covers every change that arrived meanwhile.
 *
 * A read that fails (the store closed while a snapshot install replaces it, its revision compacted
 * meanwhile, a page that does not open) leaves the policy as it was, is logged with its error code only
 * (never an object's contents) and tried again after rbacRewatchRetryMs, doubled after each failure in a
 * row up to rbacReloadRetryMsMax; until one succeeds `problem()` says so, which /readyz reports (so a
 * load balancer sends no traffic to a member authorizing with a stale policy). Nothing here rejects
 * unawaited: the watch loops and the coalesced reads catch their failures.
 *
 * A write of an RBAC object through this member waits for `waitFor(revision)`, so the writer's next
 * request already sees it; it waits at most rbacPolicyWaitMs and learns whether the policy took the
 * change in (the route then answers the write's success with a Warning). `onChange` listeners (the open
 * watch streams' recheck) run as soon as a new policy is in force.
 *
 * Invariant: `policy` is always compiled from the RBAC objects of one store revision
 * (`loadedRevision`); an object in the store that does not parse, or whose kind, namespace and name are
 * not those of its key, is left out (it grants nothing). `rbacBytes` is what those objects take in the
 * store (keys and values), what the routes check rbacObjectsBytesMax against.
 */
import type { FastifyBaseLogger } from 'fastify';
import { type Clock, realClock, type TimerHandle } from '../../base/index.ts';
import { listPageBytesMax, listPageItemsMax, listScanStepKeys, rbacPolicyWaitMs, rbacReloadRetryMsMax, rbacRewatchRetryMs, valueBytesMax } from '../../config/index.ts';
import { compilePolicy, parseRbacObject, type CompiledPolicy, type CompiledRulesCache, type RbacObject } from '../../rbac/index.ts';
import { decodeObjectValue, listPrefix, rbacResourceTypes, type ResourceType } from '../../registry/index.ts';
import { prefixEnd, type KeyValue, type Watcher } from '../../storage/mvcc/index.ts';
import type { MvccReader } from '../kv/backend.ts';

/** One RBAC object as read from the store. */
interface Held {
  modRevision: number;
  /** Key and value bytes, as the store counts them. */
  bytes: number;
  /** Undefined when the stored value is not a valid RBAC object for its key (it grants nothing). */
  object: RbacObject | undefined;
}

interface Waiter {
  revision: number;
  settle(inForce: boolean): void;
}

export class PolicyHolder {
  policy: CompiledPolicy = compilePolicy([]);
  loadedRevision = 0;
  /** Every RBAC object of `loadedRevision`, by key (its bytes as latin1 text); entries may be newer while a read is under way. */
  private held = new Map<string, Held>();
  /** The store `held` was read from: another one (a snapshot install) is read whole again. */
  private heldFrom: MvccReader | undefined;
  private heldBytes = 0;
  private readonly rulesCache: CompiledRulesCache = new WeakMap();
  private watchers: Watcher[] = [];
  private watching = false;
  /** Bumped whenever the watchers are replaced or cancelled: a loop of an older generation ends quietly. */
  private generation = 0;
  private readonly changeListeners: (() => void)[] = [];
  private readonly waiters = new Set<Waiter>();
  private running: Promise<void> | undefined;
  private again = false;
  private retry: TimerHandle | undefined;
  private failure: { code: string; attempts: number; sinceMs: number } | undefined;
  private stopped = false;

  constructor(private readonly store: () => MvccReader, private readonly log?: FastifyBaseLogger, private readonly clock: Clock = realClock) {}

  /** Reads the policy and starts following the store; called once, before anything is served. Throws if the first read fails. */
  async start(): Promise<void> {
    await this.load();
    this.watch();
  }

  stop(): void {
    this.stopped = true;
    this.generation++;
    this.watching = false;
    for (const w of this.watchers.splice(0)) w.cancel();
    this.retry?.cancel();
    this.retry = undefined;
    for (const waiter of [...this.waiters]) waiter.settle(false);
  }

  /** Calls `listener` each time a new policy is in force (after the RBAC objects changed), synchronously. */
  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  /** Bytes of the RBAC objects the policy was compiled from (keys and values, as the store counts them). */
  get rbacBytes(): number {
    return this.heldBytes;
  }

  /** Why the policy may not be following the store (for /readyz), or undefined while it is. */
  problem(): string | undefined {
    const failure = this.failure;
    if (failure === undefined || this.stopped) return undefined;
    return `the RBAC policy could not be brought up to the store since ${new Date(failure.sinceMs).toISOString()} (${failure.attempts} attempt(s), last: ${failure.code}); `
      + `requests are authorized by the policy of revision ${this.loadedRevision}; it is read again every ${rbacReloadRetryMsMax} ms at most`;
  }

  /**
   * Resolves true once the policy reflects every RBAC change up to `revision` in the local store, or false
   * if it does not within rbacPolicyWaitMs (a read keeps failing, or the change has not reached this
   * member's store) or the holder stops. Never rejects.
   */
  waitFor(revision: number): Promise<boolean> {
    if (this.loadedRevision >= revision) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const timer = this.clock.setTimer(rbacPolicyWaitMs, () => waiter.settle(false));
      const waiter: Waiter = {
        revision,
        settle: (inForce) => {
          this.waiters.delete(waiter);
          timer.cancel();
          resolve(inForce);
        },
      };
      this.waiters.add(waiter);
      this.requestLoad();
    });
  }

  private watch(): void {
    const generation = ++this.generation;
    const created: Watcher[] = [];
    try {
      for (const type of rbacResourceTypes) {
        const prefix = listPrefix(type, undefined);
        // The member's own: clients holding every watcher they may cannot keep the policy from following the store.
        created.push(this.store().watch({ key: prefix, end: prefixEnd(prefix), startRevision: this.loadedRevision + 1, forMember: true }));
      }
    } catch (error) {
      for (const w of created) w.cancel();
      throw error;
    }
    this.watchers = created;
    this.watching = true;
    for (const watcher of created) void this.follow(watcher, generation);
  }

  /** Asks for a read on each change one watcher reports; when it ends, reads and watches afresh. Never rejects. */
  private async follow(watcher: Watcher, generation: number): Promise<void> {
    let reason = 'ended';
    try {
      for await (const response of watcher) {
        if (response.events.length > 0 && response.revision > this.loadedRevision) this.requestLoad();
      }
    } catch (error) {
      reason = codeOf(error);
    }
    if (this.stopped || generation !== this.generation) return;
    // Slow, compacted, or its store closed (a snapshot install replaces it): read again and watch afresh.
    this.log?.warn({ reason }, 'RBAC watch ended; reloading the policy');
    this.generation++;
    this.watching = false;
    for (const w of this.watchers.splice(0)) w.cancel();
    void this.refresh();
  }

  /** A read soon: now (coalesced), or at the retry already planned, which reads the store as it is then. */
  private requestLoad(): void {
    if (this.stopped || this.retry !== undefined) return;
    void this.refresh();
  }

  /** Coalesces reads: at most one runs, and one more follows if asked meanwhile. Never rejects. */
  private refresh(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = this.loadWhileAsked();
    return this.running;
  }

  private async loadWhileAsked(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.load();
        if (!this.watching && !this.stopped) this.watch();
        if (this.failure !== undefined) {
          this.log?.info({ attempts: this.failure.attempts, revision: this.loadedRevision }, 'the RBAC policy follows the store again');
          this.failure = undefined;
        }
      } while (this.again && !this.stopped);
    } catch (error) {
      this.failed(error);
    } finally {
      this.running = undefined;
    }
  }

  private failed(error: unknown): void {
    if (this.stopped) return;
    const code = codeOf(error);
    const attempts = (this.failure?.attempts ?? 0) + 1;
    this.failure = { code, attempts, sinceMs: this.failure?.sinceMs ?? this.clock.nowMs() };
    const delayMs = Math.min(rbacReloadRetryMsMax, rbacRewatchRetryMs * 2 ** Math.min(attempts - 1, 20));
    // The code only: an error's message, like anything read, may carry an object's contents.
    this.log?.warn({ code, attempts, revision: this.loadedRevision, retryInMs: delayMs }, 'the RBAC policy could not be brought up to the store; the policy loaded before stays in force, and the store is read again');
    this.retry?.cancel();
    this.retry = this.clock.setTimer(delayMs, () => {
      this.retry = undefined;
      void this.refresh();
    });
  }

  /** Brings the policy up to the store's current revision (see the header). Throws if a read fails; the policy is then unchanged. */
  private async load(): Promise<void> {
    const store = this.store();
    const revision = store.currentRevision();
    const sameStore = store === this.heldFrom;
    if (!sameStore || revision !== this.loadedRevision) {
      // The entries of a failed read stay: each is right for its mod revision, so the next read reuses it.
      const held = sameStore ? this.held : new Map<string, Held>();
      const seen = new Set<string>();
      if (held.size === 0) await this.readAll(store, revision, held, seen);
      else await this.readChanged(store, revision, held, seen);
      if (this.stopped) return;
      let bytes = 0;
      const objects: RbacObject[] = [];
      for (const [key, entry] of held) {
        if (!seen.has(key)) {
          held.delete(key);
          continue;
        }
        bytes += entry.bytes;
        if (entry.object !== undefined) objects.push(entry.object);
      }
      this.policy = compilePolicy(objects, this.rulesCache);
      this.held = held;
      this.heldFrom = store;
      this.heldBytes = bytes;
      this.loadedRevision = revision;
      for (const listener of this.changeListeners) {
        try {
          listener();
        } catch (error) {
          this.log?.error({ code: codeOf(error) }, 'a listener of RBAC policy changes failed');
        }
      }
    }
    for (const waiter of [...this.waiters]) if (waiter.revision <= this.loadedRevision) waiter.settle(true);
  }

  /** Every RBAC object at `revision`, values included, in pages of at most listPageBytesMax bytes. */
  private async readAll(store: MvccReader, revision: number, held: Map<string, Held>, seen: Set<string>): Promise<void> {
    for (const type of rbacResourceTypes) {
      const prefix = listPrefix(type, undefined);
      const end = prefixEnd(prefix);
      let start = prefix;
      let largest = 0;
      for (;;) {
        // No more keys than a page holds at the largest value seen (at first: the largest a value may be).
        const limit = Math.max(1, Math.min(listScanStepKeys, Math.floor(listPageBytesMax / (largest || valueBytesMax))));
        const page = await store.range(start, end, { revision, limit });
        for (const kv of page.kvs) {
          largest = Math.max(largest, kv.value.length);
          const key = keyText(kv.key);
          seen.add(key);
          held.set(key, this.parse(type, kv));
        }
        await this.pause();
        const last = page.kvs[page.kvs.length - 1];
        if (!page.more || last === undefined) break;
        start = keyAfter(last.key);
      }
    }
  }

  /** The keys at `revision`, then the value of each key `held` does not have at its mod revision. */
  private async readChanged(store: MvccReader, revision: number, held: Map<string, Held>, seen: Set<string>): Promise<void> {
    const changed: { type: ResourceType; key: Uint8Array }[] = [];
    for (const type of rbacResourceTypes) {
      const prefix = listPrefix(type, undefined);
      const end = prefixEnd(prefix);
      let start = prefix;
      for (;;) {
        const page = await store.range(start, end, { revision, keysOnly: true, limit: listPageItemsMax });
        for (const kv of page.kvs) {
          const key = keyText(kv.key);
          seen.add(key);
          if (held.get(key)?.modRevision !== kv.modRevision) changed.push({ type, key: kv.key });
        }
        const last = page.kvs[page.kvs.length - 1];
        if (!page.more || last === undefined) break;
        start = keyAfter(last.key);
        await this.pause();
      }
    }
    let bytes = 0;
    for (const { type, key } of changed) {
      const kv = (await store.range(key, undefined, { revision })).kvs[0];
      if (kv === undefined) continue;
      held.set(keyText(key), this.parse(type, kv));
      bytes += kv.value.length;
      if (bytes >= listPageBytesMax) {
        bytes = 0;
        await this.pause();
      }
    }
  }

  private parse(type: ResourceType, kv: KeyValue): Held {
    const entry: Held = { modRevision: kv.modRevision, bytes: kv.key.length + kv.value.length, object: undefined };
    const decoded = decodeObjectValue(kv);
    if (decoded === undefined) return entry;
    try {
      const object = parseRbacObject(decoded.object);
      // Only the object its key names: two keys cannot define one object.
      const expected = Buffer.concat([listPrefix(type, object.metadata.namespace), Buffer.from(object.metadata.name)]);
      if (object.kind === type.kind && expected.equals(kv.key)) entry.object = object;
      else this.log?.warn({ kind: type.kind, modRevision: kv.modRevision }, 'an RBAC object in the store is not the one its key names; it grants nothing');
    } catch {
      this.log?.warn({ kind: type.kind, modRevision: kv.modRevision }, 'an RBAC object in the store does not parse; it grants nothing');
    }
    return entry;
  }

  /** A turn of the event loop for everything else. */
  private pause(): Promise<void> {
    return new Promise((resolve) => this.clock.defer(resolve));
  }
}

function keyText(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

/** The smallest key after `key`. */
function keyAfter(key: Uint8Array): Uint8Array {
  const next = new Uint8Array(key.length + 1);
  next.set(key);
  return next;
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown';
}
