/**
 * The typed shapes of etcd 3.4's KV API as this client returns them: int64 revisions as numbers
 * (revisions, versions and counts stay far below 2^53), 64-bit member and cluster ids as decimal
 * strings (they use all 64 bits), keys and values as bytes.
 */
import type { Bytes } from './bytes.ts';

export interface ResponseHeader {
  clusterId: string;
  memberId: string;
  revision: number;
  raftTerm: number;
}

export interface KeyValue {
  key: Uint8Array;
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  /** Number of writes since creation; 0 never appears for a present key. */
  version: number;
  lease: string;
}

export interface RangeOptions {
  /** Exclusive end of the range; `prefix: true` computes it from the key. */
  rangeEnd?: Bytes;
  prefix?: boolean;
  limit?: number;
  /** Read at this past revision (0 or absent: the latest). */
  revision?: number;
  /** Answer from the local member without a linearizable round. */
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
}

export interface RangeResult {
  header: ResponseHeader;
  kvs: KeyValue[];
  count: number;
  more: boolean;
}

export interface PutOptions {
  prevKv?: boolean;
}

export interface PutResult {
  header: ResponseHeader;
  prevKv?: KeyValue;
}

export interface DeleteOptions {
  rangeEnd?: Bytes;
  prefix?: boolean;
  prevKv?: boolean;
}

export interface DeleteResult {
  header: ResponseHeader;
  deleted: number;
  prevKvs: KeyValue[];
}

export type CompareResult = 'EQUAL' | 'NOT_EQUAL' | 'GREATER' | 'LESS';

export type Compare = { key: Bytes; result: CompareResult } & (
  | { target: 'VALUE'; value: Bytes }
  | { target: 'VERSION'; version: number }
  | { target: 'CREATE'; createRevision: number }
  | { target: 'MOD'; modRevision: number }
);

export type RequestOp =
  | { put: { key: Bytes; value: Bytes } & PutOptions }
  | { range: { key: Bytes } & RangeOptions }
  | { deleteRange: { key: Bytes } & DeleteOptions };

export type ResponseOp =
  | ({ type: 'put' } & Omit<PutResult, 'header'>)
  | ({ type: 'range' } & Omit<RangeResult, 'header'>)
  | ({ type: 'deleteRange' } & Omit<DeleteResult, 'header'>);

export interface TxnRequest {
  compare?: Compare[];
  success?: RequestOp[];
  failure?: RequestOp[];
}

export interface TxnResult {
  header: ResponseHeader;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface StatusResult {
  header: ResponseHeader;
  version: string;
  /** Coffer only: the member's KEK source, active DEK and certificate expiry (RFC 3339). */
  coffer?: { kekSource: string; activeDek: number; certificateNotAfter: string };
  dbSize: number;
  /** Member id of the leader this member knows; "0" when it knows none. */
  leader: string;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  isLearner: boolean;
  errors: string[];
}

export interface HashKvResult {
  header: ResponseHeader;
  /** etcd's uint32 as decimal text, or Coffer's digest as it came; compare, never compute on it. */
  hash: string;
  compactRevision: number;
}

export interface Member {
  id: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

export interface MemberAddResult {
  header: ResponseHeader;
  member: Member;
  members: Member[];
}

export interface MemberListResult {
  header: ResponseHeader;
  members: Member[];
}
