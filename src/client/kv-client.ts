/**
 * KvClient: etcd 3.4's KV, maintenance and cluster calls over its JSON gateway, which Coffer's client
 * port implements too — so the same client drives both (the benchmark compares them through it).
 *
 * Reads are marked idempotent (retried on another endpoint if a connection breaks); writes are not
 * (see transport.ts for why). Every failure is a ClientError; `indeterminate` says whether a failed
 * write may still have happened.
 */
import type { Bytes } from './bytes.ts';
import { HttpsTransport, type PostOptions, type TransportOptions } from './transport.ts';
import type {
  DeleteOptions, DeleteResult, HashKvResult, KeyValue, MemberAddResult, MemberListResult, PutOptions, PutResult, RangeOptions, RangeResult,
  StatusResult, TxnRequest, TxnResult,
} from './types.ts';
import {
  array, bool, hashText, decodeDeleteBody, decodeHeader, decodeMember, decodePutBody, decodeRangeBody, decodeResponseOp, encodeCompare,
  encodeDelete, encodePut, encodeRange, encodeRequestOp, id, int, object, str,
} from './wire.ts';

export type KvClientOptions = TransportOptions;

/** Per-call options: a deadline other than the client's default. */
export interface CallOptions {
  timeoutMs?: number;
}

export class KvClient {
  private readonly transport: HttpsTransport;

  constructor(options: KvClientOptions) {
    this.transport = new HttpsTransport(options);
  }

  get endpoints(): readonly string[] {
    return this.transport.endpoints;
  }

  async put(key: Bytes, value: Bytes, options: PutOptions & CallOptions = {}): Promise<PutResult> {
    const body = await this.call('/v3/kv/put', encodePut(key, value, options), options, false);
    return { header: decodeHeader(body), ...decodePutBody(body) };
  }

  async range(key: Bytes, options: RangeOptions & CallOptions = {}): Promise<RangeResult> {
    const body = await this.call('/v3/kv/range', encodeRange(key, options), options, true);
    return { header: decodeHeader(body), ...decodeRangeBody(body) };
  }

  /** The key's current entry, or undefined when it does not exist. */
  async get(key: Bytes, options: Omit<RangeOptions, 'rangeEnd' | 'prefix'> & CallOptions = {}): Promise<KeyValue | undefined> {
    return (await this.range(key, options)).kvs[0];
  }

  async deleteRange(key: Bytes, options: DeleteOptions & CallOptions = {}): Promise<DeleteResult> {
    const body = await this.call('/v3/kv/deleterange', encodeDelete(key, options), options, false);
    return { header: decodeHeader(body), ...decodeDeleteBody(body) };
  }

  async txn(request: TxnRequest, options: CallOptions = {}): Promise<TxnResult> {
    const body = await this.call('/v3/kv/txn', {
      compare: (request.compare ?? []).map(encodeCompare),
      success: (request.success ?? []).map(encodeRequestOp),
      failure: (request.failure ?? []).map(encodeRequestOp),
    }, options, false);
    return { header: decodeHeader(body), succeeded: bool(body, 'succeeded'), responses: array(body, 'responses').map(decodeResponseOp) };
  }

  async compact(revision: number, options: { physical?: boolean } & CallOptions = {}): Promise<{ header: TxnResult['header'] }> {
    const request: Record<string, unknown> = { revision: String(revision) };
    if (options.physical === true) request.physical = true;
    const body = await this.call('/v3/kv/compaction', request, options, false);
    return { header: decodeHeader(body) };
  }

  async status(options: CallOptions = {}): Promise<StatusResult> {
    const body = await this.call('/v3/maintenance/status', {}, options, true);
    return {
      header: decodeHeader(body),
      version: str(body, 'version'),
      dbSize: int(body, 'dbSize' in body ? 'dbSize' : 'db_size'),
      leader: id(body, 'leader'),
      raftIndex: int(body, 'raftIndex' in body ? 'raftIndex' : 'raft_index'),
      raftTerm: int(body, 'raftTerm' in body ? 'raftTerm' : 'raft_term'),
      raftAppliedIndex: int(body, 'raftAppliedIndex' in body ? 'raftAppliedIndex' : 'raft_applied_index'),
      isLearner: bool(body, 'isLearner' in body ? 'isLearner' : 'is_learner'),
      errors: array(body, 'errors').map(String),
      ...cofferStatus(body),
    };
  }

  /** The hash of the MVCC key space up to `revision` (0: the latest), as etcd's HashKV. */
  async hashKv(revision = 0, options: CallOptions = {}): Promise<HashKvResult> {
    const body = await this.call('/v3/maintenance/hashkv', { revision: String(revision) }, options, true);
    return { header: decodeHeader(body), hash: hashText(body.hash), compactRevision: int(body, 'compact_revision') };
  }

  /** The member table; with `serializable`, the answering member's own copy (no quorum needed, possibly behind). */
  async memberList(options: CallOptions & { serializable?: boolean } = {}): Promise<MemberListResult> {
    const body = await this.call('/v3/cluster/member/list', options.serializable === true ? { serializable: true } : {}, options, true);
    return { header: decodeHeader(body), members: array(body, 'members').map(decodeMember) };
  }

  /**
   * Adds a member (etcd's MemberAdd; Coffer also takes the member's certificate name). The new
   * member must then be started with the returned id and cluster id.
   */
  async memberAdd(request: { peerUrls: string[]; name?: string; clientUrls?: string[]; isLearner?: boolean }, options: CallOptions = {}): Promise<MemberAddResult> {
    const body = await this.call('/v3/cluster/member/add', {
      peerURLs: request.peerUrls,
      ...(request.name === undefined ? {} : { name: request.name }),
      ...(request.clientUrls === undefined ? {} : { clientURLs: request.clientUrls }),
      ...(request.isLearner === true ? { isLearner: true } : {}),
    }, options, false);
    return { header: decodeHeader(body), member: decodeMember(body.member), members: array(body, 'members').map(decodeMember) };
  }

  /** Promotes a learner that has caught up to a voting member. */
  async memberPromote(memberId: string, options: CallOptions = {}): Promise<MemberListResult> {
    const body = await this.call('/v3/cluster/member/promote', { ID: memberId }, options, false);
    return { header: decodeHeader(body), members: array(body, 'members').map(decodeMember) };
  }

  async memberRemove(memberId: string, options: CallOptions = {}): Promise<MemberListResult> {
    const body = await this.call('/v3/cluster/member/remove', { ID: memberId }, options, false);
    return { header: decodeHeader(body), members: array(body, 'members').map(decodeMember) };
  }

  /**
   * The member's store as a snapshot stream (bytes; storage/backup's SnapshotStreamReader decodes
   * them). Administrators only. Not retried once sent: the caller restarts a save that broke.
   */
  async snapshot(options: CallOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    return this.transport.postStream('/apis/coffer.dev/v1/snapshot', {}, options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
  }

  /** Closes idle connections; the client must not be used afterwards. */
  close(): void {
    this.transport.close();
  }

  private async call(path: string, request: unknown, options: CallOptions, idempotent: boolean): Promise<Record<string, unknown>> {
    const post: PostOptions = { idempotent, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) };
    return object(await this.transport.post(path, request, post), 'body');
  }
}

/** Coffer's additions to the status answer, when the server is Coffer. */
function cofferStatus(body: Record<string, unknown>): Pick<StatusResult, 'coffer'> {
  const extra = body.coffer;
  if (typeof extra !== 'object' || extra === null) return {};
  const fields = extra as Record<string, unknown>;
  return {
    coffer: {
      kekSource: typeof fields.kek_source === 'string' ? fields.kek_source : '',
      activeDek: Number(fields.active_dek ?? 0),
      certificateNotAfter: typeof fields.certificate_not_after === 'string' ? fields.certificate_not_after : '',
    },
  };
}
