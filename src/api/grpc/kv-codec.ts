/**
 * etcd's protobuf KV messages to Coffer's operations and back. What Coffer's store does not do yet is
 * refused by name (InvalidArgument through BadFieldError), never ignored. Nested transactions (request_txn, response_txn) are decoded level by level, and one
 * deeper than txnNestingLevelsMax is refused before it is walked further.
 */
import {
  type Compare, type CompareResult, type CompareTarget, type DeleteRangeRequest, type DeleteRangeResponse, type KeyValue, type PutRequest,
  type PutResponse, type RangeResponse, type TxnOp, type TxnRequest, type TxnResponse, checkTxnNesting,
} from '../../storage/mvcc/index.ts';
import { BadFieldError, clusterIdToProto, type Header } from '../kv/json.ts';

export { clusterIdToProto };
import { type RangeQuery, rangeQuery, type SortOrder, type SortTarget, txnRange } from '../kv/service.ts';
import { boolField, bytesField, idField, int64, type Message } from '../../etcdpb/index.ts';

const sortOrders: Record<string, SortOrder> = { NONE: 'none', ASCEND: 'ascend', DESCEND: 'descend' };
const sortTargets: Record<string, SortTarget> = { KEY: 'key', VERSION: 'version', CREATE: 'create', MOD: 'mod', VALUE: 'value' };

function optionalEnd(message: Message): { end?: Uint8Array } {
  const end = bytesField(message, 'range_end');
  return end.length > 0 ? { end } : {};
}

export function rangeFromProto(message: Message): RangeQuery {
  return rangeQuery({
    key: bytesField(message, 'key'), ...optionalEnd(message),
    revision: int64(message, 'revision'), limit: int64(message, 'limit'),
    keysOnly: boolField(message, 'keys_only'), countOnly: boolField(message, 'count_only'), serializable: boolField(message, 'serializable'),
    sortOrder: sortOrders[String(message.sort_order)] ?? 'none', sortTarget: sortTargets[String(message.sort_target)] ?? 'key',
    minModRevision: int64(message, 'min_mod_revision'), maxModRevision: int64(message, 'max_mod_revision'),
    minCreateRevision: int64(message, 'min_create_revision'), maxCreateRevision: int64(message, 'max_create_revision'),
  });
}

export function putFromProto(message: Message): PutRequest {
  return {
    type: 'put', key: bytesField(message, 'key'), value: bytesField(message, 'value'), prevKv: boolField(message, 'prev_kv'),
    lease: idField(message, 'lease'), ignoreLease: boolField(message, 'ignore_lease'), ignoreValue: boolField(message, 'ignore_value'),
  };
}

export function deleteFromProto(message: Message): DeleteRangeRequest {
  return { type: 'deleteRange', key: bytesField(message, 'key'), ...optionalEnd(message), prevKv: boolField(message, 'prev_kv') };
}

const compareTargets: Record<string, CompareTarget> = { VERSION: 'version', CREATE: 'createRevision', MOD: 'modRevision', VALUE: 'value', LEASE: 'lease' };
const compareResults: Record<string, CompareResult> = { EQUAL: 'equal', GREATER: 'greater', LESS: 'less', NOT_EQUAL: 'notEqual' };
const compareOperands: Record<string, string> = { VERSION: 'version', CREATE: 'create_revision', MOD: 'mod_revision', LEASE: 'lease' };

function compareFromProto(message: Message): Compare {
  const target = String(message.target);
  const value = target === 'VALUE' ? bytesField(message, 'value') : int64(message, compareOperands[target] ?? 'version');
  return {
    key: bytesField(message, 'key'), ...optionalEnd(message), target: compareTargets[target] ?? 'version', result: compareResults[String(message.result)] ?? 'equal', value,
  };
}

function txnOpFromProto(message: Message, queries: Map<TxnOp, RangeQuery>, level: number): TxnOp {
  switch (message.request) {
    case 'request_range': {
      const query = rangeFromProto(message.request_range as Message);
      const op = txnRange(query);
      queries.set(op, query);
      return op;
    }
    case 'request_put': return putFromProto(message.request_put as Message);
    case 'request_delete_range': return deleteFromProto(message.request_delete_range as Message);
    case 'request_txn': return txnAt(message.request_txn as Message, queries, level + 1);
    default: throw new BadFieldError('request', 'must hold one operation');
  }
}

/** A transaction `level` levels deep (the outermost is 1). */
function txnAt(message: Message, queries: Map<TxnOp, RangeQuery>, level: number): TxnRequest {
  checkTxnNesting(level);
  const list = (name: string) => (message[name] as Message[] | undefined) ?? [];
  const ops = (name: string) => list(name).map((m) => txnOpFromProto(m, queries, level));
  return { type: 'txn', compare: list('compare').map(compareFromProto), success: ops('success'), failure: ops('failure') };
}

/**
 * The transaction, and the query of each of its range operations, nested ones' included (sorting and
 * filters are applied to their results: KvService.txn).
 */
export function txnFromProto(message: Message): { request: TxnRequest; queries: Map<TxnOp, RangeQuery> } {
  const queries = new Map<TxnOp, RangeQuery>();
  return { request: txnAt(message, queries, 1), queries };
}

export function headerToProto(header: Header): Message {
  return { cluster_id: clusterIdToProto(header.clusterId), member_id: header.memberId, revision: header.revision, raft_term: header.raftTerm };
}

export function kvToProto(kv: KeyValue): Message {
  return { key: kv.key, create_revision: kv.createRevision, mod_revision: kv.modRevision, version: kv.version, value: kv.value, lease: kv.lease };
}

export function rangeToProto(result: RangeResponse): Message {
  return { kvs: result.kvs.map(kvToProto), more: result.more, count: result.count };
}

export function putToProto(result: PutResponse): Message {
  return result.prevKv ? { prev_kv: kvToProto(result.prevKv) } : {};
}

export function deleteToProto(result: DeleteRangeResponse): Message {
  return { deleted: result.deleted, prev_kvs: (result.prevKvs ?? []).map(kvToProto) };
}

export function txnToProto(result: TxnResponse, header: Message): Message {
  return {
    header, succeeded: result.succeeded,
    responses: result.responses.map((response) => {
      switch (response.type) {
        case 'range': return { response_range: { header, ...rangeToProto(response) } };
        case 'put': return { response_put: { header, ...putToProto(response) } };
        case 'deleteRange': return { response_delete_range: { header, ...deleteToProto(response) } };
        case 'txn': return { response_txn: txnToProto(response, header) };
      }
    }),
  };
}
