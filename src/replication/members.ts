/**
 * The member table: who is in the cluster, by id, with the URLs to reach them. It lives in the
 * replicated store under reserved keys (`\0coffer/members/<id>`), written when a membership change is
 * applied, so every member holds the same table at the same log index and snapshots carry it.
 * A removed member keeps its record (removed: true), so its id is never handed out again.
 */
import { type ConfState, makeConfState } from '../raft/index.ts';
import { prefixEnd } from '../storage/mvcc/index.ts';

export interface MemberInfo {
  id: number;
  name: string;
  peerUrl: string;
  /** The member's client URL, so a follower can name the leader's endpoint. */
  clientUrl: string;
  learner: boolean;
  removed: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Keys below this prefix are Coffer's own; the client APIs refuse them. */
const reservedKeyPrefix = encoder.encode('\0coffer/');
const memberPrefix = encoder.encode('\0coffer/members/');
export const memberRange = { key: memberPrefix, end: prefixEnd(memberPrefix) };

export function memberKey(id: number): Uint8Array {
  return encoder.encode(`\0coffer/members/${String(id).padStart(12, '0')}`);
}

export function encodeMemberInfo(info: MemberInfo): Uint8Array {
  return encoder.encode(JSON.stringify(info));
}

export function decodeMemberInfo(value: Uint8Array): MemberInfo {
  return JSON.parse(decoder.decode(value)) as MemberInfo;
}

/**
 * The Raft membership the table describes: its members not removed, voters unless learners. The table
 * is written in the store's batch with the applied index, so this is the membership as of that index.
 */
export function confStateOf(members: readonly MemberInfo[]): ConfState {
  const current = members.filter((m) => !m.removed);
  return makeConfState(current.filter((m) => !m.learner).map((m) => m.id), current.filter((m) => m.learner).map((m) => m.id));
}

/** Whether two memberships have the same voters and learners. */
export function sameMembership(a: ConfState, b: ConfState): boolean {
  const ids = (xs: readonly number[]): string => [...xs].sort((x, y) => x - y).join(',');
  return ids(a.voters) === ids(b.voters) && ids(a.learners) === ids(b.learners)
    && ids(a.votersOutgoing) === ids(b.votersOutgoing) && ids(a.learnersNext) === ids(b.learnersNext);
}

export function isReservedKey(key: Uint8Array): boolean {
  if (key.length < reservedKeyPrefix.length) return false;
  return reservedKeyPrefix.every((byte, i) => key[i] === byte);
}
