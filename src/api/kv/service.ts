/**
 * The etcd v3 operations as Coffer serves them, whatever the encoding: the JSON gateway (routes.ts)
 * and the gRPC API (src/api/grpc) decode their requests into these calls and encode what they return,
 * so both share one implementation of the key-range checks, the consistency of reads and the member
 * operations. Writes go through Raft; reads — transactions that write nothing included — are served by
 * the member that took them, linearizable unless the request asks for `serializable`. Every key of a
 * request passes checkKeyAccess (key-access.ts: the reserved keyspace, then the caller's `kvkeys` rules)
 * before the backend sees it.
 *
 * Ranges add to the store's what etcd's server adds: sorting and the min/max revision filters are
 * applied here to the whole range (as etcd applies them), `count` still counting every key in range.
 */
import type {
  DeleteRangeRequest, DeleteRangeResponse, HashResult, PutRequest, PutResponse, RangeResponse, TxnOp, TxnRequest, TxnResponse,
  WatchOptions, Watcher,
} from '../../storage/mvcc/index.ts';
import { isReadOnlyTxn } from '../../storage/mvcc/index.ts';
import { type BackupSigner, type BackupSummary, writeBackup } from '../../storage/backup/index.ts';
import { type CompiledPolicy, type KeyRangeVerb, mastersGroup } from '../../rbac/index.ts';
import { type Alarm, ReplicationError } from '../../replication/index.ts';
import { type Caller, isAllowed, isMaster } from '../k8s/authorization.ts';
import { ForbiddenError } from '../errors.ts';
import { emptyKey, EtcdRequestError, permissionDenied } from '../etcd-errors.ts';
import { clusterAdministration } from '../route-config.ts';
import { readAccountOf } from '../held-bytes.ts';
import type { RequestInfo } from '../request-info.ts';
import type { KvBackend } from './backend.ts';
import { BadFieldError, type Header } from './json.ts';
import { checkKeyAccess, readVerb } from './key-access.ts';
import { attachingAs, LeaseService } from './lease-service.ts';
import { isReshaped, type RangeQuery, reshape, storeRangeOptions } from './range-query.ts';
import { hidingOwnKeys } from './reserved.ts';

export { type RangeQuery, rangeQuery, type SortOrder, type SortTarget, txnRange } from './range-query.ts';

export interface MemberStatus {
  header: Header;
  version: string;
  dbSizeBytes: number;
  /** The bytes of the pages the store holds: what the quota counts (etcd's dbSizeInUse). */
  dbSizeInUseBytes: number;
  leader: number;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  isLearner: boolean;
  errors: string[];
  leaderName?: string;
  keysAndCertificate?: { kekSource: string; activeDekId: number; certificateNotAfter: string };
}

export interface MemberView { id: number; name: string; peerUrl: string; clientUrl: string; learner: boolean }

/** The version a member reports in status. */
export const serverVersion = 'coffer-0.1.0';

export class KvService {
  /** The Lease operations, for both encodings. */
  readonly leases: LeaseService;

  constructor(
    private readonly backend: KvBackend,
    /** The RBAC policy in force: key ranges are authorized per request, against the `kvkeys` rules. */
    private readonly policy: () => CompiledPolicy,
    private readonly statusErrors: () => string[] = () => [],
  ) {
    this.backend = hidingOwnKeys(backend); // every range run is cut as the check cut it (reserved.ts)
    this.leases = new LeaseService(backend, (caller, verb, key) => this.allow(caller, verb, key));
  }

  private allow(caller: Caller, verb: KeyRangeVerb, key: Uint8Array, end?: Uint8Array): void {
    checkKeyAccess(this.policy(), caller, verb, nonEmpty(key), end);
  }

  /**
   * A transaction needs `get` on every key it compares (`list` on a range it compares) and what each
   * operation needs, in both branches whichever runs, and so on into every nested transaction: nesting
   * is no way around a check.
   */
  private allowTxn(caller: Caller, op: TxnRequest): void {
    for (const c of op.compare) this.allow(caller, readVerb(c.end), c.key, c.end);
    for (const o of [...op.success, ...op.failure]) {
      if (o.type === 'txn') this.allowTxn(caller, o);
      else this.allowOp(caller, o);
    }
  }

  /**
   * A write needs its verb on its keys, and the read verb too when it returns the values it replaced (as
   * etcd asks) or keeps the key's value or lease (`ignore_value`, `ignore_lease`): such a put fails with
   * "key not found" where the key is absent, so it tells whether a key exists — a read. A put that attaches
   * its key to a lease (`lease` set) needs `delete` as well: the lease's end — expiry, or a revoke by
   * whoever may delete its other keys — deletes the key; and the lease must be the caller's
   * (lease-service.ts, "Owners"), checked here against the lease table and again at apply (attachingAs).
   * `ignore_lease` attaches nothing new.
   */
  private allowOp(caller: Caller, op: Exclude<TxnOp, TxnRequest>): void {
    if (op.type === 'range') return this.allow(caller, readVerb(op.end), op.key, op.end);
    const end = op.type === 'put' ? undefined : op.end;
    this.allow(caller, op.type === 'put' ? 'update' : 'delete', op.key, end);
    if (op.type === 'put' && (op.lease ?? 0) !== 0) {
      this.allow(caller, 'delete', op.key);
      this.leases.mayAttach(caller, op.lease!);
    }
    const keeps = op.type === 'put' && (op.ignoreValue === true || op.ignoreLease === true);
    if (op.prevKv === true || keeps) this.allow(caller, readVerb(end), op.key, end);
  }

  header(revision?: number): Header {
    const status = this.backend.status();
    return { clusterId: this.backend.clusterId, memberId: status.memberId, revision: revision ?? status.revision, raftTerm: status.term };
  }

  async range(caller: Caller, query: RangeQuery): Promise<RangeResponse> {
    this.allow(caller, readVerb(query.end), query.key, query.end);
    const options = { ...storeRangeOptions(query), linearizable: !query.serializable || this.notAppliedYet(query.revision), account: readAccountOf(caller) };
    const whole = await this.backend.range(query.key, query.end, options);
    return isReshaped(query) ? reshape(whole, query) : whole;
  }

  async put(caller: Caller, op: PutRequest): Promise<PutResponse> {
    this.allowOp(caller, op);
    return (await this.backend.propose(attachingAs(caller, op))) as PutResponse;
  }

  async deleteRange(caller: Caller, op: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    this.allowOp(caller, op);
    return (await this.backend.propose(op)) as DeleteRangeResponse;
  }

  /**
   * A transaction; `queries` names the range operations that sort or filter by revision (built with
   * txnRange), which the store runs over the whole range and this shapes afterwards, as `range` does;
   * `serializable`, the range operations that asked for a serializable read (by default, those whose query
   * says so).
   *
   * One that writes nothing (no put or delete in any branch, at any level) is served as etcd serves it
   * (isTxnReadonly): as a read by this member, never proposed — linearizable, unless it has operations and
   * every one of both its branches is a range asking to be serializable (isTxnSerializable; unlike etcd's,
   * a transaction of compares only is linearizable) — so its reads cost this member alone, not every
   * member's apply loop. Its
   * compares and ranges are authorized as any transaction's, and its audit record, with nothing to travel
   * in, is made durable in this member's log before the answer leaves (audit-in-entry.ts).
   */
  async txn(
    caller: Caller, op: TxnRequest, queries: ReadonlyMap<TxnOp, RangeQuery> = new Map(),
    serializable: ReadonlySet<TxnOp> = serializableOps(queries),
  ): Promise<TxnResponse> {
    this.allowTxn(caller, op);
    const result = isReadOnlyTxn(op)
      ? await this.backend.readTxn(op, { linearizable: !isTxnSerializable(op, serializable) || this.notAppliedYet(highestRevisionRead(op)), account: readAccountOf(caller) })
      : (await this.backend.propose(attachingAs(caller, op))) as TxnResponse;
    return queries.size === 0 ? result : reshapeTxn(op, result, queries);
  }

  /**
   * Whether a serializable read asks a revision this member's store has not applied yet. The client saw
   * it committed (from another member: clientv3 spreads its requests over every endpoint, and its STM
   * reads at the revision its first read was served at), so the read waits for a ReadIndex round, which
   * brings this member up to it, instead of answering "future revision" as etcd's lagging member would;
   * a revision past the cluster's still gets that answer.
   */
  private notAppliedYet(revision: number): boolean {
    return revision > this.backend.mvcc().currentRevision();
  }

  /** Compacts history up to `revision`; `physical` (etcd's) waits until this member's store has dropped it from disk. */
  async compact(revision: number, physical = false): Promise<number> {
    const compacted = (await this.backend.propose({ type: 'compact', revision })).revision;
    if (physical) await this.backend.mvcc().whenCompacted();
    return compacted;
  }

  /**
   * The member's status. Its sizes are a read of the whole store: they move by the bytes of every page
   * written, so a caller watching them learns each new value's length. Only `system:masters` (who may
   * read every key, as for HashKV) gets them; anyone else reads 0.
   */
  async status(caller: Caller): Promise<MemberStatus> {
    const status = this.backend.status();
    const sizes = isMaster(caller);
    // A removed or stopped member no longer hears the leader: naming its last one would be stale.
    const leaderId = status.removed || !this.backend.isServing() ? 0 : status.leader;
    const members = this.backend.memberList();
    const leader = members.find((m) => m.id === leaderId);
    return {
      header: this.header(),
      version: serverVersion,
      dbSizeBytes: sizes ? await this.backend.dbSizeBytes() : 0,
      dbSizeInUseBytes: sizes ? this.backend.mvcc().pageBytes() : 0,
      leader: leaderId,
      raftIndex: status.raftIndex,
      raftTerm: status.term,
      raftAppliedIndex: status.appliedIndex,
      isLearner: members.find((m) => m.id === status.memberId)?.learner ?? false,
      errors: [
        ...(status.removed ? ['this member was removed from the cluster'] : []), ...(this.backend.problems?.() ?? []), ...this.statusErrors(),
        // As etcd lists its alarms in Status: `coffer status` and `etcdctl endpoint status` show them.
        ...this.backend.alarms().map((a) => `memberID:${a.memberId} alarm:${a.alarm}`),
      ],
      ...(leader ? { leaderName: leader.name } : {}),
      ...(this.backend.keysAndCertificate ? { keysAndCertificate: this.backend.keysAndCertificate() } : {}),
    };
  }

  /** A watcher of [key, end) from `startRevision` (0: changes after now). */
  watch(caller: Caller, options: WatchOptions): Watcher {
    this.allow(caller, 'watch', options.key, options.end);
    return this.backend.mvcc().watch(options);
  }

  /**
   * Whether `caller` may still make the call `info` describes and watch each of `watching` (key ranges),
   * against the policy in force now: an open stream's recheck when the policy changes (WatchStreams.recheck).
   */
  stillAllowed(caller: Caller, info: RequestInfo, watching: readonly { key: Uint8Array; end?: Uint8Array | undefined }[]): boolean {
    if (!isAllowed(this.policy(), caller, info)) return false;
    try {
      for (const { key, end } of watching) this.allow(caller, 'watch', key, end);
      return true;
    } catch (error) {
      if (error instanceof ForbiddenError) return false;
      throw error;
    }
  }

  hashKv(revision: number): Promise<HashResult> {
    return this.backend.mvcc().hash(revision);
  }

  /** Linearizable unless `serializable` (this member's own table: `coffer status` lists members without a quorum). */
  async memberList(serializable: boolean): Promise<MemberView[]> {
    if (!serializable) await this.backend.linearizableBarrier();
    return this.members();
  }

  members(): MemberView[] {
    return this.backend.memberList().filter((m) => !m.removed);
  }

  /** Adds a member; without a name (etcd's MemberAdd) it is a slot its member certificate binds when it joins. */
  addMember(request: { name: string; peerUrl: string; clientUrl: string; learner: boolean }): Promise<MemberView> {
    return this.backend.addMember({ ...request, peerUrl: httpsPeerUrl(request.peerUrl) });
  }

  promoteMember(id: number): Promise<MemberView> {
    return this.backend.promoteMember(id);
  }

  async removeMember(id: number): Promise<void> {
    await this.backend.removeMember(id);
  }

  updateMemberPeerUrl(id: number, peerUrl: string): Promise<MemberView> {
    return this.backend.updateMemberPeerUrl(id, httpsPeerUrl(peerUrl));
  }

  transferLeadership(id: number): void {
    this.backend.transferLeadership(id);
  }

  /**
   * etcd's AlarmRequest: GET lists the standing alarms (of one type, or all for NONE); ACTIVATE and
   * DEACTIVATE raise and clear a member's NOSPACE alarm through Raft and answer with it if it changed.
   * Coffer raises no other alarm (CORRUPT: a page that fails to open stops its member instead). Any
   * caller the gate let reach the call may list them, as with etcd; raising and clearing one changes
   * the cluster itself: system:masters only (the one call whose request, not its path, says so).
   */
  async alarm(caller: Caller, request: { action: 'GET' | 'ACTIVATE' | 'DEACTIVATE'; memberId: number; alarm: string }): Promise<Alarm[]> {
    const standing = this.backend.alarms();
    if (request.action === 'GET') return standing.filter((a) => request.alarm === 'NONE' || a.alarm === request.alarm);
    if (!isMaster(caller)) {
      throw new ForbiddenError(`${permissionDenied}: only the group ${JSON.stringify(mastersGroup)} may ${clusterAdministration} (alarm ${request.action})`);
    }
    if (request.alarm !== 'NOSPACE') throw new ReplicationError('E_BAD_REQUEST', `Coffer raises only NOSPACE alarms, not ${request.alarm}`);
    if (!this.backend.memberList().some((m) => m.id === request.memberId && m.removed !== true)) {
      throw new ReplicationError('E_MEMBER_NOT_FOUND', 'etcdserver: member not found');
    }
    const alarm: Alarm = { memberId: request.memberId, alarm: 'NOSPACE' };
    const holds = (alarms: readonly Alarm[]) => alarms.some((a) => a.memberId === alarm.memberId && a.alarm === alarm.alarm);
    await this.backend.changeAlarm({ ...alarm, action: request.action === 'ACTIVATE' ? 'activate' : 'deactivate' });
    return holds(standing) !== holds(this.backend.alarms()) ? [alarm] : [];
  }

  defragment(): Promise<void> {
    return this.backend.defragment();
  }

  /**
   * The store as a backup sealed to `recipient` and signed by `signer` (storage/backup), written to
   * `file`: every write committed before the call is in it (a barrier first), then one point-in-time
   * export (etcd's Snapshot).
   */
  async sealedBackup(options: {
    file: string; recipient: Uint8Array; signer: BackupSigner; sizeAlignment: { multiple: number; remainder: number };
  }): Promise<BackupSummary> {
    await this.backend.linearizableBarrier();
    return writeBackup({ ...options, records: this.backend.mvcc().exportSnapshot(), sourceClusterId: this.backend.clusterId });
  }
}

/** The highest revision a range of the transaction (nested ones' too) reads at; 0 when all read the current one. */
function highestRevisionRead(op: TxnRequest): number {
  let highest = 0;
  for (const o of [...op.success, ...op.failure]) {
    if (o.type === 'range') highest = Math.max(highest, o.options?.revision ?? 0);
    else if (o.type === 'txn') highest = Math.max(highest, highestRevisionRead(o));
  }
  return highest;
}

/** The range operations of `queries` that asked for a serializable read. */
function serializableOps(queries: ReadonlyMap<TxnOp, RangeQuery>): Set<TxnOp> {
  return new Set([...queries].filter(([, query]) => query.serializable).map(([op]) => op));
}

/**
 * Whether a transaction that writes nothing may be read without a ReadIndex round: it has operations, and
 * every one of both branches is a range asking for a serializable read (a nested transaction is not).
 * etcd's isTxnSerializable also passes a transaction of compares only, which asked nothing to be
 * serializable: served from a lagging member, its compares missed writes committed before it.
 */
function isTxnSerializable(op: TxnRequest, serializable: ReadonlySet<TxnOp>): boolean {
  const ops = [...op.success, ...op.failure];
  return ops.length > 0 && ops.every((o) => o.type === 'range' && serializable.has(o));
}

/** The responses of the branch that ran, each range shaped by its query, nested transactions' too. */
function reshapeTxn(op: TxnRequest, result: TxnResponse, queries: ReadonlyMap<TxnOp, RangeQuery>): TxnResponse {
  const ran = result.succeeded ? op.success : op.failure;
  const responses = result.responses.map((response, i) => {
    const child = ran[i]!;
    if (child.type === 'txn' && response.type === 'txn') return reshapeTxn(child, response, queries);
    const query = queries.get(child);
    return query !== undefined && isReshaped(query) && response.type === 'range' ? reshape(response, query) : response;
  });
  return { ...result, responses };
}

/** The first 32 bits of a hex SHA-256, as etcd's uint32 hash (Maintenance Hash and HashKV). */
export function hash32(hex: string): number {
  return Number.parseInt(hex.slice(0, 8), 16) >>> 0;
}

function nonEmpty(key: Uint8Array): Uint8Array {
  if (key.length === 0) throw new EtcdRequestError(emptyKey);
  return key;
}

/** A member's peer URL is https: its peer listener speaks mutual TLS only. */
function httpsPeerUrl(url: string): string {
  if (!URL.canParse(url) || new URL(url).protocol !== 'https:') throw new BadFieldError('peerURLs', `${JSON.stringify(url)} is not an https URL`);
  return url;
}
