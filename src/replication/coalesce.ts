/**
 * Fewer, larger peer messages. Raft makes one message per event: under load a leader's Ready holds an
 * append per proposal and an empty append per commit step for each follower, a follower's Ready a
 * forwarded proposal per request and an acknowledgement per append — hundreds of messages to one peer,
 * each framed, encrypted, decoded and stepped on its own (docs/performance.md, "One message per peer
 * per Ready"). Before they are sent, the messages of one Ready to one peer are merged where the peer's
 * Raft reaches the same state from the merged message as from the sequence:
 *
 * - appends that continue each other (the second starts where the first ends, at the same term) become
 *   one append with both runs of entries and the later commit index, up to maxMsgBytes of entries;
 * - forwarded proposals of normal entries become one proposal, up to maxMsgBytes (a conf change is
 *   never merged: the leader may refuse it, and a refused proposal drops every entry it carries);
 * - acceptances of appends (appResp without reject) become the one that accepts the most.
 *
 * Only messages with no other message to the same peer between them are merged, and a merged message
 * takes the place of the first, so the order of what each peer receives is kept. Pure: no I/O.
 */
import { entriesBytes, type Entry, type Message, type NodeId } from '../raft/index.ts';

export function coalesceMessages(messages: readonly Message[], maxMsgBytes: number): readonly Message[] {
  if (messages.length < 2) return messages;
  const out: Message[] = [];
  /** Where in `out` the last message to each peer is, and the bytes of the entries it carries. */
  const last = new Map<NodeId, { at: number; bytes: number; owned: boolean }>();
  for (const m of messages) {
    const tail = last.get(m.to);
    const bytes = entriesBytes(m.entries);
    if (tail !== undefined) {
      const prev = out[tail.at]!;
      if (continues(prev, m) && (m.entries.length === 0 || tail.bytes + bytes <= maxMsgBytes)) {
        out[tail.at] = extended(prev, m, tail.owned);
        tail.bytes += bytes;
        tail.owned = true;
        continue;
      }
      if (bothAccept(prev, m)) {
        if (m.index >= prev.index) out[tail.at] = m;
        continue;
      }
    }
    last.set(m.to, { at: out.length, bytes, owned: false });
    out.push(m);
  }
  return out;
}

/** `m` adds entries (or a later commit) to `prev` and can travel in it. */
function continues(prev: Message, m: Message): boolean {
  if (prev.type !== m.type || prev.from !== m.from || prev.term !== m.term) return false;
  if (m.type === 'app') {
    const prevLastTerm = prev.entries.length > 0 ? prev.entries[prev.entries.length - 1]!.term : prev.logTerm;
    return m.index === prev.index + prev.entries.length && m.logTerm === prevLastTerm;
  }
  return m.type === 'prop' && onlyNormal(prev.entries) && onlyNormal(m.entries);
}

/** Both accept appends, from one member in one term: only the one with the higher index need be sent. */
function bothAccept(prev: Message, m: Message): boolean {
  return prev.type === 'appResp' && m.type === 'appResp' && !prev.reject && !m.reject && prev.from === m.from && prev.term === m.term;
}

/** `prev` with `m`'s entries after its own and `m`'s commit; `prev`'s entries are copied once, then grown. */
function extended(prev: Message, m: Message, owned: boolean): Message {
  const merged = owned ? prev : { ...prev, entries: [...prev.entries] };
  for (const e of m.entries) merged.entries.push(e);
  merged.commit = Math.max(prev.commit, m.commit);
  // Entries must be acknowledged: the merged append asks for no reply only if neither part does.
  if (m.noReply !== true) delete merged.noReply;
  return merged;
}

function onlyNormal(entries: readonly Entry[]): boolean {
  return entries.every((e) => e.type === 'normal');
}

