/**
 * Between the typed shapes of types.ts and etcd's JSON: requests are encoded with etcd's field names
 * (snake_case, base64 bytes, int64 as strings); responses are decoded leniently where etcd's gateway
 * omits zero values (a missing `count` is 0, a missing `value` is empty) and strictly where a field
 * has the wrong type, which fails with BAD_RESPONSE.
 */
import { type Bytes, fromBase64, prefixEnd, toBase64 } from './bytes.ts';
import { ClientError } from './errors.ts';
import type {
  Compare, DeleteOptions, DeleteResult, KeyValue, Member, PutOptions, PutResult, RangeOptions, RangeResult, RequestOp,
  ResponseHeader, ResponseOp,
} from './types.ts';

type Json = Record<string, unknown>;

// ── requests ────────────────────────────────────────────────────────────────────────────────────

function rangeEndOf(key: Bytes, options: { rangeEnd?: Bytes; prefix?: boolean }): string | undefined {
  if (options.prefix === true) return toBase64(prefixEnd(key));
  return options.rangeEnd === undefined ? undefined : toBase64(options.rangeEnd);
}

function definedOnly(body: Json): Json {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined && v !== false));
}

export function encodeRange(key: Bytes, options: RangeOptions = {}): Json {
  return definedOnly({
    key: toBase64(key),
    range_end: rangeEndOf(key, options),
    limit: options.limit === undefined ? undefined : String(options.limit),
    revision: options.revision === undefined ? undefined : String(options.revision),
    serializable: options.serializable,
    keys_only: options.keysOnly,
    count_only: options.countOnly,
  });
}

export function encodePut(key: Bytes, value: Bytes, options: PutOptions = {}): Json {
  return definedOnly({ key: toBase64(key), value: toBase64(value), prev_kv: options.prevKv });
}

export function encodeDelete(key: Bytes, options: DeleteOptions = {}): Json {
  return definedOnly({ key: toBase64(key), range_end: rangeEndOf(key, options), prev_kv: options.prevKv });
}

export function encodeCompare(compare: Compare): Json {
  const base = { key: toBase64(compare.key), target: compare.target, result: compare.result };
  switch (compare.target) {
    case 'VALUE': return { ...base, value: toBase64(compare.value) };
    case 'VERSION': return { ...base, version: String(compare.version) };
    case 'CREATE': return { ...base, create_revision: String(compare.createRevision) };
    case 'MOD': return { ...base, mod_revision: String(compare.modRevision) };
  }
}

export function encodeRequestOp(op: RequestOp): Json {
  if ('put' in op) return { request_put: encodePut(op.put.key, op.put.value, op.put) };
  if ('range' in op) return { request_range: encodeRange(op.range.key, op.range) };
  return { request_delete_range: encodeDelete(op.deleteRange.key, op.deleteRange) };
}

// ── responses ───────────────────────────────────────────────────────────────────────────────────

function bad(what: string): never {
  throw new ClientError('BAD_RESPONSE', `response field ${what} has an unexpected type`);
}

export function object(value: unknown, what: string): Json {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) bad(what);
  return value as Json;
}

/** An int64 field (a decimal string in etcd's JSON, or a number); absent means 0. */
export function int(body: Json, name: string): number {
  const value = body[name];
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) {
    const n = Number(value);
    if (Number.isSafeInteger(n)) return n;
  }
  return bad(name);
}

/**
 * A uint64 id kept exact as a string; absent means "0". etcd writes decimal; any short alphanumeric
 * id (Coffer's hex cluster id) is kept as it came, since ids are only compared, never computed on.
 */
export function id(body: Json, name: string): string {
  const value = body[name];
  if (value === undefined || value === null) return '0';
  if (typeof value === 'string' && /^[0-9A-Za-z_-]{1,64}$/.test(value)) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  return bad(name);
}

/** A hash as text: etcd's uint32 number in decimal, or a string (hex digest) as given. */
export function hashText(value: unknown): string {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'string' && /^[0-9A-Za-z+/=_-]{1,256}$/.test(value)) return value;
  return bad('hash');
}

export function bool(body: Json, name: string): boolean {
  const value = body[name];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') bad(name);
  return value;
}

export function str(body: Json, name: string): string {
  const value = body[name];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') bad(name);
  return value;
}

export function bytes(body: Json, name: string): Uint8Array {
  return fromBase64(str(body, name));
}

export function array(body: Json, name: string): unknown[] {
  const value = body[name];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) bad(name);
  return value;
}

/**
 * The cluster ID as Coffer writes it (16 hex digits: `coffer server --cluster-id`), from the gateway's
 * uint64 in decimal, as etcd's gateway sends it.
 */
function clusterIdOf(h: Json): string {
  const decimal = id(h, 'cluster_id');
  return /^\d{1,20}$/.test(decimal) && BigInt(decimal) < 2n ** 64n ? BigInt(decimal).toString(16).padStart(16, '0') : decimal;
}

export function decodeHeader(body: Json): ResponseHeader {
  const h = object(body.header, 'header');
  return { clusterId: clusterIdOf(h), memberId: id(h, 'member_id'), revision: int(h, 'revision'), raftTerm: int(h, 'raft_term') };
}

export function decodeKv(value: unknown): KeyValue {
  const kv = object(value, 'kv');
  return {
    key: bytes(kv, 'key'),
    value: bytes(kv, 'value'),
    createRevision: int(kv, 'create_revision'),
    modRevision: int(kv, 'mod_revision'),
    version: int(kv, 'version'),
    lease: id(kv, 'lease'),
  };
}

export function decodeRangeBody(body: Json): Omit<RangeResult, 'header'> {
  return { kvs: array(body, 'kvs').map(decodeKv), count: int(body, 'count'), more: bool(body, 'more') };
}

export function decodePutBody(body: Json): Omit<PutResult, 'header'> {
  return body.prev_kv === undefined || body.prev_kv === null ? {} : { prevKv: decodeKv(body.prev_kv) };
}

export function decodeDeleteBody(body: Json): Omit<DeleteResult, 'header'> {
  return { deleted: int(body, 'deleted'), prevKvs: array(body, 'prev_kvs').map(decodeKv) };
}

export function decodeResponseOp(value: unknown): ResponseOp {
  const op = object(value, 'responses[]');
  if (op.response_put !== undefined) return { type: 'put', ...decodePutBody(object(op.response_put, 'response_put')) };
  if (op.response_range !== undefined) return { type: 'range', ...decodeRangeBody(object(op.response_range, 'response_range')) };
  if (op.response_delete_range !== undefined) {
    return { type: 'deleteRange', ...decodeDeleteBody(object(op.response_delete_range, 'response_delete_range')) };
  }
  return bad('responses[]');
}

export function decodeMember(value: unknown): Member {
  const m = object(value, 'members[]');
  const urls = (name: string): string[] => array(m, name).map((u) => (typeof u === 'string' ? u : bad(name)));
  return { id: id(m, 'ID'), name: str(m, 'name'), peerUrls: urls('peerURLs'), clientUrls: urls('clientURLs'), isLearner: bool(m, 'isLearner') };
}
