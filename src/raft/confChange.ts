/**
 * Membership changes, single-server style (Raft dissertation §4.1, as etcd's "simple" changes): each change
 * adds, promotes, demotes or removes ONE member, so every majority of the old voter set overlaps every
 * majority of the new one. Safety needs two guards, both enforced by the leader in raft.ts:
 *   - at most one conf change is unapplied at a time (pendingConfIndex);
 *   - a new leader proposes no conf change before it has committed an entry of its own term
 *     (the fix for the bug Ongaro described on raft-dev in 2015).
 * A change takes effect when the host applies its committed entry and calls RawNode.applyConfChange.
 *
 * Encoding of ConfChange in Entry.data (deterministic, hand-written):
 *   byte 0: format version (1); byte 1: kind (1 addNode, 2 addLearner, 3 removeNode);
 *   bytes 2..9: nodeId as big-endian float64 (a safe integer > 0); bytes 10..: context (opaque to Raft,
 *   e.g. the new member's peer URL).
 */
import { ConfChangeDecodeError, ConfChangeError } from './errors.ts';
import type { ConfState, NodeId } from './types.ts';

export type ConfChangeType = 'addNode' | 'addLearner' | 'removeNode';

/**
 * addNode: add a voter, or promote a learner to voter. addLearner: add a learner, or demote a voter.
 * removeNode: remove a voter or learner. Adding an existing voter or removing an absent node is a no-op.
 */
export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to Raft; carried to the host with the committed entry. */
  context?: Uint8Array;
}

const formatVersion = 1;
const headerBytes = 10;
const kindCodes: Record<ConfChangeType, number> = { addNode: 1, addLearner: 2, removeNode: 3 };
const kindsByCode: ReadonlyMap<number, ConfChangeType> = new Map([
  [1, 'addNode'],
  [2, 'addLearner'],
  [3, 'removeNode'],
]);

function checkNodeId(nodeId: number): void {
  if (!Number.isSafeInteger(nodeId) || nodeId < 1) throw new ConfChangeError(`nodeId ${String(nodeId)} is not a positive integer`);
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  checkNodeId(cc.nodeId);
  const context = cc.context ?? new Uint8Array(0);
  const out = new Uint8Array(headerBytes + context.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, formatVersion);
  view.setUint8(1, kindCodes[cc.type]);
  view.setFloat64(2, cc.nodeId, false);
  out.set(context, headerBytes);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < headerBytes) throw new ConfChangeDecodeError(`${data.length} bytes is shorter than the ${headerBytes}-byte header`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = view.getUint8(0);
  if (version !== formatVersion) throw new ConfChangeDecodeError(`format version ${version} is not ${formatVersion}`);
  const type = kindsByCode.get(view.getUint8(1));
  if (type === undefined) throw new ConfChangeDecodeError(`kind code ${view.getUint8(1)} is unknown`);
  const nodeId = view.getFloat64(2, false);
  if (!Number.isSafeInteger(nodeId) || nodeId < 1) throw new ConfChangeDecodeError(`nodeId ${nodeId} is not a positive integer`);
  const cc: ConfChange = { type, nodeId };
  if (data.length > headerBytes) cc.context = data.slice(headerBytes);
  return cc;
}

export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

export function makeConfState(voters: readonly NodeId[], learners: readonly NodeId[] = []): ConfState {
  const sorted = (ids: readonly NodeId[]): NodeId[] => [...new Set(ids)].sort((a, b) => a - b);
  return { ...emptyConfState(), voters: sorted(voters), learners: sorted(learners) };
}

export function copyConfState(cs: ConfState): ConfState {
  return makeConfState(cs.voters, cs.learners);
}

/**
 * The membership after `cc`, or a ConfChangeError if the change is not allowed (it would leave no voter,
 * or it is not a single-server change of a non-joint membership).
 */
export function applyToConfState(cs: ConfState, cc: ConfChange): ConfState {
  checkNodeId(cc.nodeId);
  if (cs.votersOutgoing.length > 0 || cs.learnersNext.length > 0) {
    throw new ConfChangeError('joint memberships are not supported (single-server changes only)');
  }
  const voters = new Set(cs.voters);
  const learners = new Set(cs.learners);
  const id = cc.nodeId;
  switch (cc.type) {
    case 'addNode':
      learners.delete(id);
      voters.add(id);
      break;
    case 'addLearner':
      voters.delete(id);
      learners.add(id);
      break;
    case 'removeNode':
      voters.delete(id);
      learners.delete(id);
      break;
  }
  if (voters.size === 0) throw new ConfChangeError(`${cc.type} of node ${id} would leave no voter`);
  return makeConfState([...voters], [...learners]);
}

export function isMember(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.learners.includes(id);
}
