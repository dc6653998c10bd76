/**
 * The unary calls of etcd's KV, Lease, Maintenance, Cluster and Auth services, as Coffer serves them: each
 * decodes its request (src/etcdpb), calls the one implementation the JSON gateway also uses
 * (kv/service.ts) as the caller the gate authorized, and encodes etcd's response. The calls that only
 * read are listed once, in plugin.ts (readOnlyCalls): they are audited with their response like
 * any read; the others are recorded before they run.
 *
 * What Coffer answers differently from etcd, and why:
 * - Hash: etcd hashes its whole database file; Coffer answers the first 32 bits of HashKV's SHA-256 over
 *   the key-values and leases at the current revision — equal on members that hold the same data.
 * - HashKV at the current revision (0) covers the leases too (id, granted TTL, attached keys), which etcd
 *   3.4's leaves out (MvccStore.hash, docs/architecture.md "HashKV").
 * - Defragment has LevelDB rewrite the member's store files to what the store holds (after a compaction,
 *   the space of the history it dropped comes back), while reads and writes go on.
 * - Alarm: NOSPACE only (a member raises it when its store outgrows --quota-backend-bytes; then every
 *   member refuses writes that add data: replication/alarms.ts). GET lists the standing alarms, ACTIVATE
 *   and DEACTIVATE raise and clear one through Raft and answer with it if it changed; CORRUPT is refused
 *   (Coffer runs no corruption check that would raise it: a page that fails to open stops its member).
 * - MemberAdd, as etcd's, names no member: the new member is listed unstarted with an empty name until it
 *   joins with a member certificate from the Coffer CA, whose name is then bound to its id through Raft,
 *   once (replication/members.ts; docs/security.md, "Joining"). One peer URL per member, https.
 * - MemberUpdate moves a member's peer URL through Raft; every member re-dials it there.
 * - Snapshot (snapshot.ts, a stream) is Coffer's encrypted backup sealed to the member's backup recipient
 *   (--backup-recipient), which the member cannot decrypt; `etcdctl snapshot status` cannot read it, and
 *   without a recipient the call is refused with FailedPrecondition saying how to enable it.
 * - Auth: identity is the client certificate and permissions are RBAC rules; every Auth call answers
 *   FailedPrecondition saying so (docs/security.md).
 * - LeaseRevoke refused with ABORTED ("the lease's keys changed since they were checked; retry") when a
 *   key was attached to the lease between its `delete` check and its apply (kv/lease-service.ts);
 *   LeaseKeepAlive needs `update` on the lease's keys, which etcd does not check (lease-keepalive.ts).
 */
import type { Caller } from '../k8s/authorization.ts';
import { BadFieldError } from '../kv/json.ts';
import { hash32, type KvService, type MemberView } from '../kv/service.ts';
import {
  deleteFromProto, deleteToProto, headerToProto, putFromProto, putToProto, rangeFromProto, rangeToProto, txnFromProto, txnToProto,
} from './kv-codec.ts';
import { boolField, idField, int64, type Message } from '../../etcdpb/index.ts';
import { GrpcStatusError, grpcStatus } from './status.ts';

export interface UnaryCall {
  service: string;
  method: string;
  /** The message types; none for a call Coffer refuses whatever it asks (it is not decoded). */
  messages?: { request: string; response: string };
  handle(caller: Caller, message: Message): Promise<Message>;
}

function memberToProto(member: MemberView): Message {
  return { ID: member.id, name: member.name, peerURLs: member.peerUrl ? [member.peerUrl] : [], clientURLs: member.clientUrl ? [member.clientUrl] : [], isLearner: member.learner };
}

const authMethods = [
  'AuthEnable', 'AuthDisable', 'Authenticate', 'UserAdd', 'UserGet', 'UserList', 'UserDelete', 'UserChangePassword', 'UserGrantRole',
  'UserRevokeRole', 'RoleAdd', 'RoleGet', 'RoleList', 'RoleDelete', 'RoleGrantPermission', 'RoleRevokePermission',
];

const rbacInstead = 'Coffer does not use etcd users, roles or passwords: the client certificate is the identity and RBAC rules grant the KV API (docs/security.md)';

/** What each group of calls is built with. */
interface CallKit {
  service: KvService;
  /** etcd's response header, at `revision` or the member's current one. */
  header: (revision?: number) => Message;
  /** A call of etcd's service `svc` whose messages are named after `method`, answered by `handle`. */
  call: (svc: string, method: string, handle: UnaryCall['handle']) => UnaryCall;
}

export function unaryCalls(service: KvService): UnaryCall[] {
  const header = (revision?: number) => headerToProto(service.header(revision));
  const call = (svc: string, method: string, handle: UnaryCall['handle']): UnaryCall => {
    const name = method === 'Compact' ? 'Compaction' : method;
    return { service: svc, method, messages: { request: `${name}Request`, response: `${name}Response` }, handle };
  };
  const refused = (svc: string, method: string, message: string): UnaryCall => ({
    service: svc, method, handle: () => Promise.reject(new GrpcStatusError(grpcStatus.failedPrecondition, message)),
  });
  const kit: CallKit = { service, header, call };
  return [...kvCalls(kit), ...maintenanceCalls(kit), ...leaseCalls(kit), ...clusterCalls(kit), ...authMethods.map((method) => refused('Auth', method, rbacInstead))];
}

/** etcd's KV service. */
function kvCalls({ service, header, call }: CallKit): UnaryCall[] {
  return [
    call('KV', 'Range', async (caller, m) => {
      const result = await service.range(caller, rangeFromProto(m));
      return { header: header(result.revision), ...rangeToProto(result) };
    }),
    call('KV', 'Put', async (caller, m) => {
      const result = await service.put(caller, putFromProto(m));
      return { header: header(result.revision), ...putToProto(result) };
    }),
    call('KV', 'DeleteRange', async (caller, m) => {
      const result = await service.deleteRange(caller, deleteFromProto(m));
      return { header: header(result.revision), ...deleteToProto(result) };
    }),
    call('KV', 'Txn', async (caller, m) => {
      const { request, queries } = txnFromProto(m);
      const result = await service.txn(caller, request, queries);
      return txnToProto(result, header(result.revision));
    }),
    call('KV', 'Compact', async (_caller, m) => ({ header: header(await service.compact(int64(m, 'revision'), boolField(m, 'physical'))) })),
  ];
}

/** etcd's Maintenance service, Snapshot aside (a stream: snapshot.ts). */
function maintenanceCalls({ service, header, call }: CallKit): UnaryCall[] {
  return [
    call('Maintenance', 'Status', async (caller) => {
      const status = await service.status(caller);
      return {
        header: headerToProto(status.header), version: status.version, dbSize: status.dbSizeBytes, dbSizeInUse: status.dbSizeInUseBytes, leader: status.leader,
        raftIndex: status.raftIndex, raftTerm: status.raftTerm, raftAppliedIndex: status.raftAppliedIndex, errors: status.errors, isLearner: status.isLearner,
      };
    }),
    call('Maintenance', 'HashKV', async (_caller, m) => {
      const result = await service.hashKv(int64(m, 'revision'));
      return { header: header(result.revision), hash: hash32(result.hash), compact_revision: result.compactRevision };
    }),
    call('Maintenance', 'Hash', async () => {
      const result = await service.hashKv(0);
      return { header: header(result.revision), hash: hash32(result.hash) };
    }),
    call('Maintenance', 'Defragment', async () => {
      await service.defragment();
      return { header: header() };
    }),
    call('Maintenance', 'Alarm', async (caller, m) => {
      const action = m.action === 'ACTIVATE' || m.action === 'DEACTIVATE' ? m.action : 'GET';
      const alarms = await service.alarm(caller, { action, memberId: int64(m, 'memberID'), alarm: typeof m.alarm === 'string' ? m.alarm : 'NONE' });
      return { header: header(), alarms: alarms.map((a) => ({ memberID: a.memberId, alarm: a.alarm })) };
    }),
    call('Maintenance', 'MoveLeader', (_caller, m) => {
      service.transferLeadership(idField(m, 'targetID'));
      return Promise.resolve({ header: header() });
    }),
  ];
}

/** etcd's Lease service, KeepAlive aside (a stream: lease-keepalive.ts). */
function leaseCalls({ service, header, call }: CallKit): UnaryCall[] {
  return [
    call('Lease', 'LeaseGrant', async (caller, m) => {
      const granted = await service.leases.grant(caller, int64(m, 'ID'), int64(m, 'TTL'));
      return { header: header(granted.revision), ID: granted.id, TTL: granted.ttl };
    }),
    call('Lease', 'LeaseRevoke', async (caller, m) => ({ header: header((await service.leases.revoke(caller, idField(m, 'ID'))).revision) })),
    call('Lease', 'LeaseTimeToLive', async (caller, m) => {
      const lease = await service.leases.timeToLive(caller, idField(m, 'ID'), boolField(m, 'keys'));
      // The ID asked for, as etcd answers it: one no member can hold is told as it came.
      return { header: header(), ID: m.ID, TTL: lease.ttl, grantedTTL: lease.grantedTtl, keys: lease.keys };
    }),
    call('Lease', 'LeaseLeases', async (caller) => ({ header: header(), leases: (await service.leases.list(caller)).map((id) => ({ ID: id })) })),
  ];
}

/** etcd's Cluster service. */
function clusterCalls({ service, header, call }: CallKit): UnaryCall[] {
  return [
    call('Cluster', 'MemberList', async () => ({ header: header(), members: (await service.memberList(false)).map(memberToProto) })),
    // etcd's MemberAdd names no member: the slot stays unnamed until the member certificate that joins as
    // its id binds its name (replication/members.ts); `member list` shows it unstarted until then.
    call('Cluster', 'MemberAdd', async (_caller, m) => {
      const member = await service.addMember({ name: '', peerUrl: onePeerUrl(m), clientUrl: '', learner: boolField(m, 'isLearner') });
      return { header: header(), member: memberToProto(member), members: service.members().map(memberToProto) };
    }),
    call('Cluster', 'MemberUpdate', async (_caller, m) => {
      await service.updateMemberPeerUrl(memberId(m), onePeerUrl(m));
      return { header: header(), members: service.members().map(memberToProto) };
    }),
    call('Cluster', 'MemberRemove', async (_caller, m) => {
      await service.removeMember(memberId(m));
      return { header: header(), members: service.members().map(memberToProto) };
    }),
    call('Cluster', 'MemberPromote', async (_caller, m) => {
      await service.promoteMember(memberId(m));
      return { header: header(), members: service.members().map(memberToProto) };
    }),
  ];
}

/** A Coffer member has one peer URL (KvService checks it is https). */
function onePeerUrl(message: Message): string {
  const urls = message.peerURLs;
  if (!Array.isArray(urls) || urls.length !== 1) throw new BadFieldError('peerURLs', 'must hold exactly one URL');
  return String(urls[0]);
}

function memberId(message: Message): number {
  const id = idField(message, 'ID');
  if (id === 0) throw new BadFieldError('ID', 'is required');
  return id;
}

