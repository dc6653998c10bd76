/**
 * The internal KV API on the client port, in the shape of etcd 3.4's JSON gateway (`/v3/kv/*`,
 * `/v3/watch`, `/v3/lease/*` (lease-routes.ts), `/v3/maintenance/*`, `/v3/cluster/member/*`), so the fault tests, the benchmark and any
 * etcd HTTP client can drive a Coffer member. Writes go through Raft; reads are linearizable unless
 * the request asks for `serializable`. Keys under Coffer's reserved prefix are refused.
 */
import type { FastifyInstance } from 'fastify';
import {
  isMvccError, type DeleteRangeResponse, type PutResponse, type RangeResponse, type TxnResponse, type WatchEvent, type Watcher,
} from '../../storage/mvcc/index.ts';
import { callerFor } from '../k8s/authorization.ts';
import { parsedRequest } from '../request.ts';
import { auditInEntryRoute, clusterAdminRoute, readOnlyRoute, wholeStoreRead } from '../route-config.ts';
import type { WatchStreams } from '../watch-stream.ts';
import { registerLeaseRoutes } from './lease-routes.ts';
import { hash32, type KvService } from './service.ts';
import {
  BadFieldError, bool, bytes, compact, decodeDeleteRange, enumValue, decodePut, decodeRange, decodeTxn, encodeHeader, encodeKv,
  id, int, int64, object, type Json,
} from './json.ts';

/** The KV routes, on `app` scoped under kvPrefix (plugin.ts); the calls that only read say so for the audit step. */
export function registerKvRoutes(app: FastifyInstance, service: KvService, watches: WatchStreams): void {
  registerKeyValueCalls(app, service);
  registerMaintenanceCalls(app, service);
  registerClusterCalls(app, service);
  registerLeaseRoutes(app, service);
  registerWatch(app, service, watches);
}

/** The body of a call, which must be a JSON object. */
const body = (value: unknown) => object(value, 'body');

/** The response header of etcd's gateway, at `revision` or the member's current one. */
const headerOf = (service: KvService) => (revision?: number) => encodeHeader(service.header(revision));

/** `/kv/*`: range, put, deleterange, txn, compaction. */
function registerKeyValueCalls(app: FastifyInstance, service: KvService): void {
  const header = headerOf(service);
  app.post('/kv/range', readOnlyRoute, async (request) => {
    const result = await service.range(callerFor(request), decodeRange(body(request.body)));
    return { header: header(result.revision), ...encodeRange(result) };
  });

  app.post('/kv/put', auditInEntryRoute, async (request) => {
    const result = await service.put(callerFor(request), decodePut(body(request.body)));
    return { header: header(result.revision), ...encodePut(result) };
  });

  app.post('/kv/deleterange', auditInEntryRoute, async (request) => {
    const result = await service.deleteRange(callerFor(request), decodeDeleteRange(body(request.body)));
    return { header: header(result.revision), ...encodeDelete(result) };
  });

  // A transaction that writes nothing proposes nothing (KvService.txn): its record is then made durable
  // in this member's log before the answer leaves, as a read's is (audit-in-entry.ts).
  app.post('/kv/txn', auditInEntryRoute, async (request) => {
    const { request: txn, queries } = decodeTxn(body(request.body));
    const result = await service.txn(callerFor(request), txn, queries);
    return encodeTxn(result, header(result.revision));
  });

  app.post('/kv/compaction', clusterAdminRoute, async (request) => {
    const fields = body(request.body);
    const revision = int(fields, 'revision');
    if (revision === undefined) throw new BadFieldError('revision', 'is required');
    return { header: header(await service.compact(revision, bool(fields, 'physical'))) };
  });
}

/** `/maintenance/*`: status, hashkv, alarm, defragment, transfer-leadership. */
function registerMaintenanceCalls(app: FastifyInstance, service: KvService): void {
  const header = headerOf(service);
  app.post('/maintenance/status', readOnlyRoute, async (request) => {
    const status = await service.status(callerFor(request));
    return {
      header: encodeHeader(status.header),
      // The proto's own field names, as etcd's gateway sends them (StatusResponse declares them camelCase).
      version: status.version,
      dbSize: int64(status.dbSizeBytes),
      dbSizeInUse: int64(status.dbSizeInUseBytes),
      leader: int64(status.leader),
      raftIndex: int64(status.raftIndex),
      raftTerm: int64(status.raftTerm),
      raftAppliedIndex: int64(status.raftAppliedIndex),
      ...compact({ isLearner: status.isLearner }),
      ...(status.leaderName !== undefined ? { leader_name: status.leaderName } : {}),
      ...compact({ errors: status.errors }),
      // Coffer's additions to etcd's status: the member's keys and certificate, never key material.
      ...(status.keysAndCertificate ? { coffer: keysAndCertificateJson(status.keysAndCertificate) } : {}),
    };
  });

  // A hash reads every page, values included: system:masters only, as etcd reserves HashKV to root.
  app.post('/maintenance/hashkv', { config: { ...readOnlyRoute.config, mastersOnly: wholeStoreRead } }, async (request) => {
    const result = await service.hashKv(int(body(request.body), 'revision') ?? 0);
    return { header: header(result.revision), hash: result.hash, compact_revision: int64(result.compactRevision) };
  });

  // etcd 3.4 binds Hash and HashKV both to this path: the answer serves either (etcd's uint32 hash, and
  // HashKV's compact_revision for a request that names a revision).
  app.post('/maintenance/hash', { config: { ...readOnlyRoute.config, mastersOnly: wholeStoreRead } }, async (request) => {
    const result = await service.hashKv(int(body(request.body), 'revision') ?? 0);
    return { header: header(result.revision), hash: hash32(result.hash), ...compact({ compact_revision: int64(result.compactRevision) }) };
  });

  // Listing is for any caller the gate lets here; raising and clearing, for system:masters (KvService.alarm).
  app.post('/maintenance/alarm', async (request) => {
    const b = body(request.body);
    const action = enumValue(b, 'action', ['GET', 'ACTIVATE', 'DEACTIVATE'] as const, 'action') ?? 'GET';
    const alarms = await service.alarm(callerFor(request), { action, memberId: int(b, 'memberID') ?? 0, alarm: enumValue(b, 'alarm', ['NONE', 'NOSPACE', 'CORRUPT'] as const, 'alarm') ?? 'NONE' });
    return { header: header(), alarms: alarms.map((a) => ({ memberID: int64(a.memberId), alarm: a.alarm })) };
  });

  app.post('/maintenance/defragment', clusterAdminRoute, async () => {
    await service.defragment();
    return { header: header() };
  });

  app.post('/maintenance/transfer-leadership', clusterAdminRoute, (request, reply) => {
    const b = body(request.body);
    const target = id(b, 'targetID') ?? id(b, 'target_id');
    if (target === undefined) throw new BadFieldError('targetID', 'is required');
    service.transferLeadership(target);
    return reply.send({ header: header() });
  });
}

/** `/cluster/member/*`: list, add, update, promote, remove, as etcd's gateway (Coffer's add also takes the member's name). */
function registerClusterCalls(app: FastifyInstance, service: KvService): void {
  const header = headerOf(service);
  app.post('/cluster/member/list', readOnlyRoute, async (request) => {
    const members = await service.memberList(bool(body(request.body), 'serializable'));
    return { header: header(), members: members.map(encodeMember) };
  });

  // Without a name, as etcd's request: the slot is named by the member certificate that joins as its id.
  app.post('/cluster/member/add', clusterAdminRoute, async (request) => {
    const b = body(request.body);
    const name = b.name ?? '';
    if (typeof name !== 'string') throw new BadFieldError('name', 'must be a string (the name in the member certificate)');
    const clientUrls = b.clientURLs ?? b.client_urls ?? [];
    const clientUrl = Array.isArray(clientUrls) && typeof clientUrls[0] === 'string' ? clientUrls[0] : '';
    const member = await service.addMember({ name, peerUrl: onePeerUrl(b), clientUrl, learner: bool(b, 'isLearner') || bool(b, 'is_learner') });
    return { header: header(), member: encodeMember(member), members: service.members().map(encodeMember) };
  });

  app.post('/cluster/member/update', clusterAdminRoute, async (request) => {
    const b = body(request.body);
    await service.updateMemberPeerUrl(memberId(b), onePeerUrl(b));
    return { header: header(), members: service.members().map(encodeMember) };
  });

  app.post('/cluster/member/promote', clusterAdminRoute, async (request) => {
    const member = await service.promoteMember(memberId(body(request.body)));
    return { header: header(), member: encodeMember(member), members: service.members().map(encodeMember) };
  });

  app.post('/cluster/member/remove', clusterAdminRoute, async (request) => {
    await service.removeMember(memberId(body(request.body)));
    return { header: header(), members: service.members().map(encodeMember) };
  });
}

/** `/watch`: one watch per request, its events streamed as JSON lines until the client or the server ends it. */
function registerWatch(app: FastifyInstance, service: KvService, watches: WatchStreams): void {
  const header = headerOf(service);
  app.post('/watch', async (request, reply) => {
    const create = object(body(request.body).create_request, 'create_request');
    const key = bytes(create, 'key', 'create_request.key') ?? new Uint8Array(0);
    const end = bytes(create, 'range_end', 'create_request.range_end');
    const filters = watchFilters(create);
    // One watch per request here, each response one JSON line: nothing to fragment.
    if (bool(create, 'fragment', 'create_request.fragment')) throw new BadFieldError('create_request.fragment', 'is served on gRPC only: the gateway sends each response whole, as one line');
    const { watcher, compactRevision } = startWatch(() => service.watch(callerFor(request), {
      key, ...(end ? { end } : {}),
      startRevision: int(create, 'start_revision', 'create_request.start_revision') ?? 0,
      prevKv: bool(create, 'prev_kv', 'create_request.prev_kv'),
      progressNotify: bool(create, 'progress_notify', 'create_request.progress_notify'),
    }));
    let stream;
    try {
      const caller = callerFor(request);
      const { info } = parsedRequest(request.raw);
      stream = watches.start(request, reply, () => watcher?.cancel(), () => service.stillAllowed(caller, info, [{ key, end }]));
    } catch (error) {
      watcher?.cancel();
      throw error;
    }
    // The watch ID asked for, as etcd names the watch by it; else the member's own.
    const watchId = int64(int(create, 'watch_id', 'create_request.watch_id') ?? watcher?.id ?? 0);
    const line = (result: Json) => JSON.stringify({ result: { header: header(), watch_id: watchId, ...result } });
    const tooSlow = () => line({ canceled: true, cancel_reason: 'the watcher fell behind its client and was canceled; watch again from a newer revision' });
    stream.send(line({ created: true }), tooSlow);
    // From a compacted revision, as etcd's gateway: created, then canceled with the revision compacted to.
    if (watcher === undefined) {
      stream.finishWith(line({ canceled: true, compact_revision: int64(compactRevision ?? 0) }));
      return;
    }
    try {
      for await (const response of watcher) {
        const kept = response.events.filter((e) => !filters.has(e.type === 'put' ? 'NOPUT' : 'NODELETE'));
        if (kept.length === 0 && response.events.length > 0) continue;
        const events = kept.map(encodeEvent);
        const sent = stream.send(JSON.stringify({ result: { header: header(response.revision), watch_id: watchId, ...compact({ events }) } }), tooSlow);
        if (!sent) break;
      }
      stream.end();
    } catch (error) {
      const compactRevision = (error as { compactRevision?: number }).compactRevision;
      stream.finishWith(line({ canceled: true, ...compact({ compact_revision: compactRevision === undefined ? undefined : int64(compactRevision) }), cancel_reason: cancelReason(error) }));
    } finally {
      watcher.cancel();
    }
  });
}

/** The event types a watch leaves out (etcd's `filters`: NOPUT, NODELETE, by name or number). */
function watchFilters(create: Json): Set<'NOPUT' | 'NODELETE'> {
  const listed = create.filters ?? [];
  if (!Array.isArray(listed)) throw new BadFieldError('create_request.filters', 'must be an array');
  return new Set(listed.map((filter, i) => {
    const where = `create_request.filters[${i}]`;
    const named = enumValue({ filter }, 'filter', ['NOPUT', 'NODELETE'] as const, where);
    if (named === undefined) throw new BadFieldError(where, 'must be one of NOPUT, NODELETE');
    return named;
  }));
}

/** A watch, or — its start revision compacted — the revision the store was compacted to; any other refusal throws. */
function startWatch(watch: () => Watcher): { watcher?: Watcher; compactRevision?: number } {
  try {
    return { watcher: watch() };
  } catch (error) {
    if (isMvccError(error) && error.code === 'E_COMPACTED') return { compactRevision: error.compactRevision ?? 0 };
    throw error;
  }
}

/** Why a watch ended, in fixed words (etcd's where clients match them): never an internal error's text. */
function cancelReason(error: unknown): string {
  if (isMvccError(error)) {
    if (error.code === 'E_COMPACTED') return 'mvcc: required revision has been compacted';
    if (error.code === 'E_WATCH_SLOW') return 'mvcc: the watcher fell behind and was canceled; watch again from a newer revision';
    if (error.code === 'E_CLOSED') return 'the member is shutting down';
    // The store's message names the limit and the revision, never a key or a value.
    if (error.code === 'E_LIMIT') return error.message;
  }
  return 'the watch was canceled by the server';
}

function keysAndCertificateJson(k: { kekSource: string; activeDekId: number; certificateNotAfter: string }): Json {
  return { kek_source: k.kekSource, active_dek: int64(k.activeDekId), certificate_not_after: k.certificateNotAfter };
}

function onePeerUrl(b: Json): string {
  const peerUrls = b.peerURLs ?? b.peer_urls;
  if (!Array.isArray(peerUrls) || peerUrls.length !== 1 || typeof peerUrls[0] !== 'string') throw new BadFieldError('peerURLs', 'must hold exactly one URL');
  return peerUrls[0];
}

function memberId(b: Json): number {
  const member = id(b, 'ID') ?? id(b, 'id');
  if (member === undefined) throw new BadFieldError('ID', 'is required');
  return member;
}

function encodeMember(m: { id: number; name: string; peerUrl: string; clientUrl: string; learner: boolean }): Json {
  return compact({ ID: int64(m.id), name: m.name, peerURLs: m.peerUrl ? [m.peerUrl] : [], clientURLs: m.clientUrl ? [m.clientUrl] : [], isLearner: m.learner });
}

function encodeRange(result: RangeResponse): Json {
  return compact({ kvs: result.kvs.map(encodeKv), more: result.more, count: int64(result.count) });
}

function encodePut(result: PutResponse): Json {
  return compact({ prev_kv: result.prevKv ? encodeKv(result.prevKv) : undefined });
}

function encodeDelete(result: DeleteRangeResponse): Json {
  return compact({ deleted: int64(result.deleted), prev_kvs: result.prevKvs?.map(encodeKv) });
}

/** A transaction's answer; those of nested transactions are `response_txn`, each with the empty header of every inner response. */
function encodeTxn(result: TxnResponse, header: Json): Json {
  return { header, ...compact({ succeeded: result.succeeded }), responses: result.responses.map(encodeTxnResponse) };
}

function encodeTxnResponse(response: TxnResponse['responses'][number]): Json {
  switch (response.type) {
    case 'range': return { response_range: { header: {}, ...encodeRange(response) } };
    case 'put': return { response_put: { header: {}, ...encodePut(response) } };
    case 'deleteRange': return { response_delete_range: { header: {}, ...encodeDelete(response) } };
    case 'txn': return { response_txn: encodeTxn(response, {}) };
  }
}

function encodeEvent(event: WatchEvent): Json {
  return compact({
    type: event.type === 'delete' ? 'DELETE' : undefined,
    kv: encodeKv(event.kv),
    prev_kv: event.prevKv ? encodeKv(event.prevKv) : undefined,
  });
}

