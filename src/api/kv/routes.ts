/**
 * The internal KV API on the client port, in the shape of etcd 3.4's JSON gateway (`/v3/kv/*`,
 * `/v3/watch`, `/v3/maintenance/*`, `/v3/cluster/member/*`), so the fault tests, the benchmark and any
 * etcd HTTP client can drive a Coffer member. Writes go through Raft; reads are linearizable unless
 * the request asks for `serializable`. Keys under Coffer's reserved prefix are refused.
 */
import type { FastifyInstance } from 'fastify';
import {
  isMvccError, type DeleteRangeResponse, type PutResponse, type RangeResponse, type TxnResponse, type WatchEvent, type WriteOp, type WriteResponse,
} from '../../storage/mvcc/index.ts';
import { callerFor } from '../k8s/authorization.ts';
import type { KvBackend } from './backend.ts';
import type { WatchStreams } from '../watch-stream.ts';
import { checkKeyRange } from './reserved.ts';
import {
  BadFieldError, bool, bytes, compact, decodeDeleteRange, decodePut, decodeRange, decodeTxn, encodeHeader, encodeKv,
  int, int64, object, type Json,
} from './json.ts';

/** `statusErrors`: problems the member reports in /v3/maintenance/status `errors` (as etcd does), e.g. a broken audit log. */
export function registerKvRoutes(app: FastifyInstance, backend: KvBackend, watches: WatchStreams, extra: { statusErrors?: () => string[] } = {}): void {
  const header = (revision?: number) => {
    const status = backend.status();
    return encodeHeader({ clusterId: backend.clusterId, memberId: status.memberId, revision: revision ?? status.revision, raftTerm: status.term });
  };
  const body = (value: unknown) => object(value, 'body');

  app.post('/v3/kv/range', async (request) => {
    const { key, end, options, serializable } = decodeRange(body(request.body));
    checkKeyRange(callerFor(request), nonEmpty(key), end);
    const result = await backend.range(key, end, { ...options, linearizable: !serializable });
    return { header: header(result.revision), ...encodeRange(result) };
  });

  app.post('/v3/kv/put', async (request) => {
    const op = decodePut(body(request.body));
    checkKeyRange(callerFor(request), nonEmpty(op.key));
    const result = (await backend.propose(op)) as PutResponse;
    return { header: header(result.revision), ...encodePut(result) };
  });

  app.post('/v3/kv/deleterange', async (request) => {
    const op = decodeDeleteRange(body(request.body));
    checkKeyRange(callerFor(request), nonEmpty(op.key), op.end);
    const result = (await backend.propose(op)) as DeleteRangeResponse;
    return { header: header(result.revision), ...encodeDelete(result) };
  });

  app.post('/v3/kv/txn', async (request) => {
    const op = decodeTxn(body(request.body));
    const caller = callerFor(request);
    for (const c of op.compare) checkKeyRange(caller, nonEmpty(c.key));
    for (const o of [...op.success, ...op.failure]) checkKeyRange(caller, nonEmpty(o.key), o.type === 'put' ? undefined : o.end);
    const result = (await backend.propose(op)) as TxnResponse;
    return {
      header: header(result.revision),
      ...compact({ succeeded: result.succeeded }),
      responses: result.responses.map(encodeTxnResponse),
    };
  });

  app.post('/v3/kv/compaction', async (request) => {
    const revision = int(body(request.body), 'revision');
    if (revision === undefined) throw new BadFieldError('revision', 'is required');
    const op: WriteOp = { type: 'compact', revision };
    const result: WriteResponse = await backend.propose(op);
    return { header: header(result.revision) };
  });

  app.post('/v3/maintenance/status', async () => {
    const status = backend.status();
    // A removed or stopped member no longer hears the leader: naming its last one would be stale.
    const leaderId = status.removed || !backend.isServing() ? 0 : status.leader;
    const leader = backend.memberList().find((m) => m.id === leaderId);
    return {
      header: header(),
      version: 'coffer-0.1.0',
      db_size: int64(await backend.dbSizeBytes()),
      leader: int64(leaderId),
      raft_index: int64(status.raftIndex),
      raft_term: int64(status.term),
      raft_applied_index: int64(status.appliedIndex),
      ...compact({ is_learner: backend.memberList().find((m) => m.id === status.memberId)?.learner ?? false }),
      ...(leader ? { leader_name: leader.name } : {}),
      ...compact({ errors: [...(status.removed ? ['this member was removed from the cluster'] : []), ...(backend.problems?.() ?? []), ...(extra.statusErrors?.() ?? [])] }),
      // Coffer's additions to etcd's status: the member's keys and certificate, never key material.
      ...(backend.keysAndCertificate ? { coffer: keysAndCertificateJson(backend.keysAndCertificate()) } : {}),
    };
  });

  app.post('/v3/maintenance/hashkv', async (request) => {
    const revision = int(body(request.body), 'revision') ?? 0;
    const result = await backend.mvcc().hash(revision);
    return { header: header(result.revision), hash: result.hash, compact_revision: int64(result.compactRevision) };
  });

  app.post('/v3/cluster/member/list', async (request) => {
    // Linearizable unless the caller asks for this member's own table (`serializable`, Coffer's addition,
    // as a range asks): `coffer status` must list the members when there is no quorum.
    if (!bool(body(request.body), 'serializable')) await backend.linearizableBarrier();
    return { header: header(), members: backend.memberList().filter((m) => !m.removed).map(encodeMember) };
  });

  app.post('/v3/cluster/member/add', async (request) => {
    const b = body(request.body);
    const peerUrls = b.peerURLs ?? b.peer_urls;
    const name = b.name;
    if (!Array.isArray(peerUrls) || peerUrls.length !== 1 || typeof peerUrls[0] !== 'string') throw new BadFieldError('peerURLs', 'must hold exactly one URL');
    if (typeof name !== 'string' || name === '') throw new BadFieldError('name', 'is required (the name in the member certificate)');
    const clientUrls = b.clientURLs ?? b.client_urls ?? [];
    const clientUrl = Array.isArray(clientUrls) && typeof clientUrls[0] === 'string' ? clientUrls[0] : '';
    const member = await backend.addMember({ name, peerUrl: peerUrls[0], clientUrl, learner: bool(b, 'isLearner') || bool(b, 'is_learner') });
    return { header: header(), member: encodeMember(member), members: backend.memberList().filter((m) => !m.removed).map(encodeMember) };
  });

  app.post('/v3/cluster/member/promote', async (request) => {
    const member = await backend.promoteMember(memberId(body(request.body)));
    return { header: header(), member: encodeMember(member), members: backend.memberList().filter((m) => !m.removed).map(encodeMember) };
  });

  app.post('/v3/cluster/member/remove', async (request) => {
    await backend.removeMember(memberId(body(request.body)));
    return { header: header(), members: backend.memberList().filter((m) => !m.removed).map(encodeMember) };
  });

  app.post('/v3/maintenance/transfer-leadership', (request, reply) => {
    const b = body(request.body);
    const target = int(b, 'targetID') ?? int(b, 'target_id');
    if (target === undefined) throw new BadFieldError('targetID', 'is required');
    backend.transferLeadership(target);
    return reply.send({ header: header() });
  });

  app.post('/v3/watch', async (request, reply) => {
    const create = object(body(request.body).create_request, 'create_request');
    const key = bytes(create, 'key', 'create_request.key') ?? new Uint8Array(0);
    const end = bytes(create, 'range_end', 'create_request.range_end');
    checkKeyRange(callerFor(request), nonEmpty(key), end);
    const watcher = backend.mvcc().watch({
      key, ...(end ? { end } : {}),
      startRevision: int(create, 'start_revision', 'create_request.start_revision') ?? 0,
      prevKv: bool(create, 'prev_kv', 'create_request.prev_kv'),
      progressNotify: bool(create, 'progress_notify', 'create_request.progress_notify'),
    });
    let stream;
    try {
      stream = watches.start(request, reply, callerFor(request).user, () => watcher.cancel());
    } catch (error) {
      watcher.cancel();
      throw error;
    }
    const line = (result: Json) => JSON.stringify({ result: { header: header(), watch_id: int64(watcher.id), ...result } });
    const tooSlow = () => line({ canceled: true, cancel_reason: 'the watcher fell behind its client and was canceled; watch again from a newer revision' });
    stream.send(line({ created: true }), tooSlow);
    try {
      for await (const response of watcher) {
        const events = response.events.map(encodeEvent);
        const sent = stream.send(JSON.stringify({ result: { header: header(response.revision), watch_id: int64(watcher.id), ...compact({ events }) } }), tooSlow);
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

/** Why a watch ended, in fixed words (etcd's where clients match them): never an internal error's text. */
function cancelReason(error: unknown): string {
  if (isMvccError(error)) {
    if (error.code === 'E_COMPACTED') return 'mvcc: required revision has been compacted';
    if (error.code === 'E_WATCH_SLOW') return 'mvcc: the watcher fell behind and was canceled; watch again from a newer revision';
    if (error.code === 'E_CLOSED') return 'the member is shutting down';
  }
  return 'the watch was canceled by the server';
}

function nonEmpty(key: Uint8Array): Uint8Array {
  if (key.length === 0) throw new BadFieldError('key', 'must not be empty');
  return key;
}

function keysAndCertificateJson(k: { kekSource: string; activeDekId: number; certificateNotAfter: string }): Json {
  return { kek_source: k.kekSource, active_dek: int64(k.activeDekId), certificate_not_after: k.certificateNotAfter };
}

function memberId(b: Json): number {
  const id = int(b, 'ID') ?? int(b, 'id');
  if (id === undefined) throw new BadFieldError('ID', 'is required');
  return id;
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

function encodeTxnResponse(response: TxnResponse['responses'][number]): Json {
  switch (response.type) {
    case 'range': return { response_range: { header: {}, ...encodeRange(response) } };
    case 'put': return { response_put: { header: {}, ...encodePut(response) } };
    case 'deleteRange': return { response_delete_range: { header: {}, ...encodeDelete(response) } };
  }
}

function encodeEvent(event: WatchEvent): Json {
  return compact({
    type: event.type === 'delete' ? 'DELETE' : undefined,
    kv: encodeKv(event.kv),
    prev_kv: event.prevKv ? encodeKv(event.prevKv) : undefined,
  });
}

