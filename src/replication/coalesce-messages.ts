/**
 * One Ready's messages to a peer, fewer: Raft answers each proposal on its own (the leader appends it
 * and sends every follower an append with just that entry; a follower forwards it to the leader alone),
 * so a Ready that gathered N proposals carries N appends to each follower and N forwarded proposals.
 * Here an append that continues the one before it to the same peer joins it, and so does a forwarded
 * proposal of ordinary entries: one frame, one decode, one Raft step and one acknowledgement instead of N.
 *
 * Why this is safe: a joined append is what the follower's log holds after taking the two in order (the
 * second starts where the first ends, at the same term), and its one acknowledgement covers both (the
 * leader frees in-flight appends up to the index acknowledged); the acknowledgement of the first not sent
 * is a message lost, which Raft tolerates. Proposals join only when every entry is an ordinary one: the
 * leader refuses a proposal whole, and a conf change may be refused where its neighbours are not.
 * A joined message never carries more than `maxBytes` of entries (the Raft message size limit), and
 * nothing is reordered: a message joins only the last one sent to its peer.
 */
import { type Entry, entriesBytes, type Message } from '../raft/index.ts';

export function coalesceMessages(messages: readonly Message[], maxBytes: number): Message[] {
  if (messages.length < 2) return messages as Message[];
  const out: Message[] = [];
  /** Where the last message kept for each peer is in `out`, with the bytes of entries it carries. */
  const lastTo = new Map<number, { at: number; bytes: number }>();
  for (const message of messages) {
    const last = lastTo.get(message.to);
    const bytes = entriesBytes(message.entries);
    const kept = last === undefined ? undefined : out[last.at]!;
    if (last !== undefined && kept !== undefined && last.bytes + bytes <= maxBytes && joins(kept, message)) {
      out[last.at] = { ...kept, entries: [...kept.entries, ...message.entries], commit: Math.max(kept.commit, message.commit) };
      last.bytes += bytes;
      continue;
    }
    lastTo.set(message.to, { at: out.length, bytes });
    out.push(message);
  }
  return out;
}

function joins(first: Message, next: Message): boolean {
  if (first.type !== next.type || first.term !== next.term || first.from !== next.from) return false;
  if (first.context !== undefined || next.context !== undefined) return false;
  if (first.type === 'app') {
    const lastEntry = first.entries[first.entries.length - 1];
    return next.index === first.index + first.entries.length && next.logTerm === (lastEntry?.term ?? first.logTerm);
  }
  if (first.type === 'prop') return first.entries.every(ordinary) && next.entries.every(ordinary);
  return false;
}

const ordinary = (entry: Entry): boolean => entry.type === 'normal';
