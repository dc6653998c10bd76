/**
 * A Range request as etcd's clients send it, on gRPC (grpc/kv-codec.ts) and the JSON gateway (json.ts)
 * alike: the query with etcd's defaults, what the store is asked for (the whole range when sorting or a
 * revision filter applies), and the shaping of the store's answer — filters, sort, limit, keys only,
 * count only — which KvService applies to a range and to each range of a transaction.
 */
import type { KeyValue, RangeRequest, RangeResponse } from '../../storage/mvcc/index.ts';

export type SortOrder = 'none' | 'ascend' | 'descend';
export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';

export interface RangeQuery {
  key: Uint8Array;
  end?: Uint8Array;
  revision: number;
  limit: number;
  keysOnly: boolean;
  countOnly: boolean;
  serializable: boolean;
  sortOrder: SortOrder;
  sortTarget: SortTarget;
  /** 0 = no bound. */
  minModRevision: number;
  maxModRevision: number;
  minCreateRevision: number;
  maxCreateRevision: number;
}

/** A query with etcd's defaults for what the request left out. */
export function rangeQuery(query: Pick<RangeQuery, 'key'> & Partial<RangeQuery>): RangeQuery {
  return {
    revision: 0, limit: 0, keysOnly: false, countOnly: false, serializable: false, sortOrder: 'none', sortTarget: 'key',
    minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0, ...query,
  };
}

/** A range operation of a transaction, as the store runs it for `query` (see txn). */
export function txnRange(query: RangeQuery): RangeRequest {
  const { revision, limit, keysOnly, countOnly } = storeRangeOptions(query);
  return { type: 'range', key: query.key, ...(query.end ? { end: query.end } : {}), options: { revision, limit, keysOnly, countOnly } };
}

/** Sorting and the revision filters apply to the whole range, so the store is asked for all of it. */
export function isReshaped(query: RangeQuery): boolean {
  return query.sortOrder !== 'none' || query.minModRevision > 0 || query.maxModRevision > 0 || query.minCreateRevision > 0 || query.maxCreateRevision > 0;
}

export function storeRangeOptions(query: RangeQuery): { revision: number; limit: number; keysOnly: boolean; countOnly: boolean } {
  const reshaped = isReshaped(query);
  return {
    revision: query.revision, limit: reshaped ? 0 : query.limit,
    keysOnly: query.keysOnly && !(reshaped && query.sortTarget === 'value'), countOnly: query.countOnly && !reshaped,
  };
}

export function reshape(whole: RangeResponse, query: RangeQuery): RangeResponse {
  const kept = sortKvs(whole.kvs.filter((kv) => withinRevisions(kv, query)), query.sortOrder, query.sortTarget);
  const limited = query.limit > 0 ? kept.slice(0, query.limit) : kept;
  const shown = query.keysOnly ? limited.map((kv) => ({ ...kv, value: new Uint8Array(0) })) : limited;
  return { ...whole, kvs: query.countOnly ? [] : shown, more: query.limit > 0 && kept.length > query.limit };
}

function withinRevisions(kv: KeyValue, query: RangeQuery): boolean {
  if (query.minModRevision > 0 && kv.modRevision < query.minModRevision) return false;
  if (query.maxModRevision > 0 && kv.modRevision > query.maxModRevision) return false;
  if (query.minCreateRevision > 0 && kv.createRevision < query.minCreateRevision) return false;
  if (query.maxCreateRevision > 0 && kv.createRevision > query.maxCreateRevision) return false;
  return true;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Stable sort by the target; keys come in key order from the store, so ties keep key order. */
function sortKvs(kvs: KeyValue[], order: SortOrder, target: SortTarget): KeyValue[] {
  if (order === 'none') return kvs;
  const by: Record<SortTarget, (a: KeyValue, b: KeyValue) => number> = {
    key: (a, b) => compareBytes(a.key, b.key),
    version: (a, b) => a.version - b.version,
    create: (a, b) => a.createRevision - b.createRevision,
    mod: (a, b) => a.modRevision - b.modRevision,
    value: (a, b) => compareBytes(a.value, b.value),
  };
  const sign = order === 'descend' ? -1 : 1;
  return [...kvs].sort((a, b) => sign * by[target](a, b));
}
