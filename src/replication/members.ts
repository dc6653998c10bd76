/**
 * The member table: who is in the cluster, by id, with the URLs to reach them. It lives in the
 * replicated store under reserved keys (`\0coffer/members/<id>`), written when a membership change is
 * applied, so every member holds the same table at the same log index and snapshots carry it.
 * A removed member keeps its record (removed: true), so its id is never handed out again.
 *
 * A member added without a name (etcd's MemberAdd carries peer URLs only) holds an unnamed slot: the
 * first member certificate that joins as that id binds its name to it (a replicated member change,
 * checked as it is applied: changedMember). Invariants: a member's name, once set, never changes; no
 * two members that are not removed hold the same name or the same peer URL.
 */
import { type ConfState, makeConfState } from '../raft/index.ts';
import { prefixEnd } from '../storage/mvcc/index.ts';
import { ReplicationError } from './errors.ts';

export interface MemberInfo {
  id: number;
  /** The name in the member's certificate; '' for a slot no member has bound yet. */
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

/** A change to one member's record that keeps the membership as it is: bind a name, or move the peer URL. */
export interface MemberChange {
  id: number;
  /** Binds this name to an unnamed slot. */
  name?: string;
  peerUrl?: string;
}

/**
 * The record `change` makes of member `change.id` in `members`, or the error that refuses it. Pure, so
 * every member decides the same at the same log index: the member must exist and not be removed; a name
 * binds only an unnamed slot (binding the name it already holds is a no-op) and only a name no other
 * member holds; a peer URL must not be another member's.
 */
export function changedMember(members: readonly MemberInfo[], change: MemberChange): MemberInfo {
  const member = members.find((m) => m.id === change.id && !m.removed);
  if (member === undefined) throw new ReplicationError('E_MEMBER_NOT_FOUND', 'etcdserver: member not found');
  const others = members.filter((m) => m.id !== change.id && !m.removed);
  const { name, peerUrl } = change;
  if (name !== undefined) {
    if (name === '') throw new ReplicationError('E_BAD_REQUEST', 'a member name cannot be empty');
    if (member.name !== '' && member.name !== name) {
      throw new ReplicationError('E_BAD_REQUEST', `member ${member.id} is already bound to ${JSON.stringify(member.name)}; a member is never renamed`);
    }
    if (others.some((m) => m.name === name)) throw new ReplicationError('E_BAD_REQUEST', `another member is named ${JSON.stringify(name)}`);
  }
  if (peerUrl !== undefined) checkPeerUrlFree(others, peerUrl);
  return { ...member, ...(name !== undefined ? { name } : {}), ...(peerUrl !== undefined ? { peerUrl } : {}) };
}

/** Refuses a peer URL another member (not removed) already has, with etcd's error. */
export function checkPeerUrlFree(others: readonly MemberInfo[], peerUrl: string): void {
  if (peerUrl !== '' && others.some((m) => !m.removed && sameUrl(m.peerUrl, peerUrl))) {
    throw new ReplicationError('E_PEER_URL_EXISTS', 'etcdserver: Peer URLs already exists');
  }
}

/**
 * Refuses to add a member while a current one has not recorded its peer URL (a founding member does so
 * after it starts: Replica.publishSelf). The joiner learns where the members are from the table (it
 * becomes its --initial-cluster) and accepts peers only by those names until it holds the table itself;
 * one left out, the leader perhaps, could never reach it. etcd refuses with the same words until its
 * members have started.
 */
export function checkAllStarted(members: readonly MemberInfo[]): void {
  const unstarted = members.filter((m) => !m.removed && m.peerUrl === '').map((m) => m.name);
  if (unstarted.length > 0) {
    throw new ReplicationError('E_BAD_REQUEST', `etcdserver: re-configuration failed due to not enough started members (${unstarted.join(', ')} not started yet)`);
  }
}

/** Whether two URLs name the same place (`https://h:1` and `https://h:1/` do). */
function sameUrl(a: string, b: string): boolean {
  return URL.canParse(a) && URL.canParse(b) ? new URL(a).href === new URL(b).href : a === b;
}

export function isReservedKey(key: Uint8Array): boolean {
  if (key.length < reservedKeyPrefix.length) return false;
  return reservedKeyPrefix.every((byte, i) => key[i] === byte);
}
