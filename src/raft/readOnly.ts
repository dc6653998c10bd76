/**
 * ReadOnly: linearizable reads by ReadIndex (Raft dissertation §6.4). The leader records its commit index
 * as the read index of a request, confirms it is still leader with a round of heartbeats carrying the
 * request's context, and answers once a majority acknowledged. Requests are answered in arrival order;
 * an acknowledgement of a later request confirms every earlier one too.
 */
import type { Message, NodeId } from './types.ts';

export interface ReadIndexStatus {
  /** The original readIndex message (from = requester; context = request context). */
  req: Message;
  index: number;
  acks: Set<NodeId>;
}

/** Hex text of a context, the key of a pending request. */
export function contextKey(ctx: Uint8Array): string {
  let s = '';
  for (const b of ctx) s += b.toString(16).padStart(2, '0');
  return s;
}

export class ReadOnly {
  /** Invariant: every key in queue has an entry in pending, and vice versa. */
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  /**
   * Registers a read at `index`. A context already pending is ignored (contexts must be unique; the
   * earlier request will be answered).
   */
  addRequest(index: number, req: Message): void {
    const key = contextKey(req.context ?? new Uint8Array(0));
    if (this.pending.has(key)) return;
    this.pending.set(key, { req, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Records an acknowledgement; returns the acks for the request, or undefined if it is not pending. */
  recvAck(id: NodeId, ctx: Uint8Array): Set<NodeId> | undefined {
    const rs = this.pending.get(contextKey(ctx));
    if (rs === undefined) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Removes and returns every request up to and including the one with context `ctx`, oldest first. */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    return done.map((k) => {
      const rs = this.pending.get(k)!;
      this.pending.delete(k);
      return rs;
    });
  }

  /** The context of the newest pending request (piggybacked on heartbeats), if any. */
  lastPendingContext(): Uint8Array | undefined {
    const key = this.queue[this.queue.length - 1];
    return key === undefined ? undefined : this.pending.get(key)!.req.context;
  }

  pendingCount(): number {
    return this.queue.length;
  }
}
