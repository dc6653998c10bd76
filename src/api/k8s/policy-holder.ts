/**
 * The compiled RBAC policy this member authorizes with, kept equal to the RBAC objects in its local
 * store: read at start, and read again whenever a watch on the four RBAC prefixes reports a change
 * (re-reading all of them at one revision is simple and obviously consistent; RBAC objects are few
 * and small). A write of an RBAC object through this member waits for `waitFor(revision)`, so the
 * writer's next request already sees it; `onChange` listeners (the open watch streams' recheck) run
 * as soon as a new policy is in force.
 *
 * Invariant: `policy` is always compiled from the RBAC objects of one store revision
 * (`loadedRevision`); an object in the store that does not parse is left out (it grants nothing).
 * A snapshot install replaces the member's store: the old one closes (its watchers end) and the new
 * one opens a little later, so a re-watch that fails is tried again every rbacRewatchRetryMs.
 */
import type { FastifyBaseLogger } from 'fastify';
import { type Clock, realClock } from '../../base/index.ts';
import { rbacRewatchRetryMs } from '../../config/index.ts';
import { compilePolicy, parseRbacObject, type CompiledPolicy, type RbacObject } from '../../rbac/index.ts';
import { decodeObjectValue, listPrefix, rbacResourceTypes } from '../../registry/index.ts';
import { prefixEnd, type Watcher } from '../../storage/mvcc/index.ts';
import type { MvccReader } from '../kv/backend.ts';

export class PolicyHolder {
  policy: CompiledPolicy = compilePolicy([]);
  loadedRevision = 0;
  private watchers: Watcher[] = [];
  private readonly changeListeners: (() => void)[] = [];
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly store: () => MvccReader, private readonly log?: FastifyBaseLogger, private readonly clock: Clock = realClock) {}

  async start(): Promise<void> {
    await this.reload();
    this.watch();
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watchers.splice(0)) w.cancel();
  }

  /** Calls `listener` each time a new policy is in force (after the RBAC objects changed), synchronously. */
  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  /** Resolves once the policy reflects every RBAC change up to `revision` in the local store. */
  async waitFor(revision: number): Promise<void> {
    while (this.loadedRevision < revision && !this.stopped) {
      await this.refresh();
      // Not applied here yet (cannot happen for a write this member proposed): do not spin.
      if (this.store().currentRevision() < revision) return;
    }
  }

  private watch(): void {
    for (const type of rbacResourceTypes) {
      const prefix = listPrefix(type, undefined);
      // The member's own: clients holding every watcher they may cannot keep the policy from following the store.
      const watcher = this.store().watch({ key: prefix, end: prefixEnd(prefix), startRevision: this.loadedRevision + 1, forMember: true });
      this.watchers.push(watcher);
      void (async () => {
        try {
          for await (const response of watcher) {
            if (response.events.length > 0 && response.revision > this.loadedRevision) void this.refresh();
          }
        } catch (error) {
          if (this.stopped) return;
          // Slow or compacted watcher: read everything again and watch afresh.
          this.log?.warn({ reason: (error as { code?: string }).code }, 'RBAC watch ended; reloading the policy');
          for (const w of this.watchers.splice(0)) w.cancel();
          this.rewatch();
        }
      })();
    }
  }

  /** Reloads and watches afresh; while the store refuses (closed, being replaced), tries again later. */
  private rewatch(): void {
    if (this.stopped) return;
    this.reload().then(() => this.watch()).catch(() => {
      this.clock.setTimer(rbacRewatchRetryMs, () => this.rewatch());
    });
  }

  /** Coalesces reloads: at most one runs, and one more follows if asked meanwhile. */
  private refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.reload();
        } while (this.again && !this.stopped);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async reload(): Promise<void> {
    const store = this.store();
    const revision = store.currentRevision();
    const objects: RbacObject[] = [];
    for (const type of rbacResourceTypes) {
      const prefix = listPrefix(type, undefined);
      const result = await store.range(prefix, prefixEnd(prefix), { revision });
      for (const kv of result.kvs) {
        const decoded = decodeObjectValue(kv);
        if (decoded === undefined) continue;
        try {
          objects.push(parseRbacObject(decoded.object));
        } catch {
          this.log?.warn({ kind: type.kind }, 'an RBAC object in the store does not parse; it grants nothing');
        }
      }
    }
    if (revision >= this.loadedRevision) {
      this.policy = compilePolicy(objects);
      this.loadedRevision = revision;
      for (const listener of this.changeListeners) listener();
    }
  }
}
