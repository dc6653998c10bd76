/**
 * The etcd v3 JSON gateway's encoding, so etcd's own HTTP clients (and the bench's client, against
 * both) speak to Coffer's KV API: bytes are base64, 64-bit integers are decimal strings, enum values
 * are names (numbers accepted), field names are snake_case (camelCase accepted on input), and fields
 * at their default value are left out of responses.
 * Decoding checks every field and names the bad one; it never trusts the shape of a body.
 */
import { CofferError } from '../../base/index.ts';
import { unheldId } from '../../etcdpb/index.ts';
import {
  type Compare, type CompareResult, type CompareTarget, type DeleteRangeRequest, type KeyValue, type PutRequest, type TxnOp,
  type TxnRequest, checkTxnNesting,
} from '../../storage/mvcc/index.ts';
import { type RangeQuery, rangeQuery, type SortOrder, type SortTarget, txnRange } from './range-query.ts';

export class BadFieldError extends CofferError {
  readonly code = 'E_BAD_FIELD';
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
  }
}

export type Json = Record<string, unknown>;

function snake(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** A field by its snake_case name, or its camelCase spelling. */
function field(body: Json, name: string): unknown {
  if (name in body) return body[name];
  const camel = name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  return body[camel];
}

export function object(value: unknown, name: string): Json {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new BadFieldError(name, 'must be an object');
  return value as Json;
}

export function bytes(body: Json, name: string, where = name): Uint8Array | undefined {
  const value = field(body, name);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) throw new BadFieldError(where, 'must be base64');
  return new Uint8Array(Buffer.from(value, 'base64'));
}

export function requiredBytes(body: Json, name: string, where = name): Uint8Array {
  const value = bytes(body, name, where);
  if (value === undefined) throw new BadFieldError(where, 'is required');
  return value;
}

export function int(body: Json, name: string, where = name): number | undefined {
  const value = field(body, name);
  if (value === undefined || value === null || value === '') return undefined;
  const number = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < 0) {
    throw new BadFieldError(where, 'must be a non-negative integer');
  }
  return number;
}

/**
 * A 64-bit ID (a lease's, a member's) as etcd's gateway takes it: any integer, as a decimal string or a
 * number; one beyond 2^53 or below 0 is unheldId, looked up and not found as etcd finds no such ID.
 */
export function id(body: Json, name: string, where = name): number | undefined {
  const value = field(body, name);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) return Number.isSafeInteger(Number(value)) && Number(value) >= 0 ? Number(value) : unheldId;
  if (typeof value === 'number' && Number.isInteger(value)) return Number.isSafeInteger(value) && value >= 0 ? value : unheldId;
  throw new BadFieldError(where, 'must be an integer');
}

export function bool(body: Json, name: string, where = name): boolean {
  const value = field(body, name);
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new BadFieldError(where, 'must be true or false');
  return value;
}

export function enumValue<T extends string>(body: Json, name: string, names: readonly T[], where: string): T | undefined {
  const value = field(body, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && names[value] !== undefined) return names[value];
  if (typeof value === 'string' && (names as readonly string[]).includes(value)) return value as T;
  throw new BadFieldError(where, `must be one of ${names.join(', ')}`);
}

export const b64 = (value: Uint8Array): string => Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
const int64 = (value: number): string => String(value);

// ── Requests ───────────────────────────────────────────────────────────────────────────────────

/** A request's key; one left out is the empty key, which the service refuses in etcd's words (`etcdserver: key is not provided`). */
function keyOf(body: Json, where: string): Uint8Array {
  return bytes(body, 'key', `${where}.key`) ?? new Uint8Array(0);
}

const sortOrders = ['NONE', 'ASCEND', 'DESCEND'] as const;
const sortTargets = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'] as const;

/**
 * A RangeRequest, every field of it, as the query the gRPC path serves (kv-codec.ts rangeFromProto):
 * sorting and the revision filters included, so the gateway answers what gRPC answers.
 */
export function decodeRange(body: Json, where = 'range'): RangeQuery {
  const end = bytes(body, 'range_end', `${where}.range_end`);
  const revisionBound = (name: string) => int(body, name, `${where}.${name}`) ?? 0;
  return rangeQuery({
    key: keyOf(body, where), ...(end !== undefined ? { end } : {}),
    revision: revisionBound('revision'), limit: revisionBound('limit'),
    keysOnly: bool(body, 'keys_only', `${where}.keys_only`), countOnly: bool(body, 'count_only', `${where}.count_only`),
    serializable: bool(body, 'serializable', `${where}.serializable`),
    sortOrder: (enumValue(body, 'sort_order', sortOrders, `${where}.sort_order`) ?? 'NONE').toLowerCase() as SortOrder,
    sortTarget: (enumValue(body, 'sort_target', sortTargets, `${where}.sort_target`) ?? 'KEY').toLowerCase() as SortTarget,
    minModRevision: revisionBound('min_mod_revision'), maxModRevision: revisionBound('max_mod_revision'),
    minCreateRevision: revisionBound('min_create_revision'), maxCreateRevision: revisionBound('max_create_revision'),
  });
}

export function decodePut(body: Json, where = 'put'): PutRequest {
  return {
    type: 'put',
    key: keyOf(body, where),
    value: bytes(body, 'value', `${where}.value`) ?? new Uint8Array(0),
    prevKv: bool(body, 'prev_kv', `${where}.prev_kv`),
    lease: id(body, 'lease', `${where}.lease`) ?? 0,
    ignoreLease: bool(body, 'ignore_lease', `${where}.ignore_lease`),
    ignoreValue: bool(body, 'ignore_value', `${where}.ignore_value`),
  };
}

export function decodeDeleteRange(body: Json, where = 'delete_range'): DeleteRangeRequest {
  const request: DeleteRangeRequest = {
    type: 'deleteRange',
    key: keyOf(body, where),
    prevKv: bool(body, 'prev_kv', `${where}.prev_kv`),
  };
  const end = bytes(body, 'range_end', `${where}.range_end`);
  if (end !== undefined) request.end = end;
  return request;
}

const targets = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'] as const;
const results = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'] as const;
const targetOf: Record<(typeof targets)[number], CompareTarget> = { VERSION: 'version', CREATE: 'createRevision', MOD: 'modRevision', VALUE: 'value', LEASE: 'lease' };
const resultOf: Record<(typeof results)[number], CompareResult> = { EQUAL: 'equal', GREATER: 'greater', LESS: 'less', NOT_EQUAL: 'notEqual' };

function decodeCompare(value: unknown, where: string): Compare {
  const body = object(value, where);
  const target = enumValue(body, 'target', targets, `${where}.target`) ?? 'VERSION';
  const result = enumValue(body, 'result', results, `${where}.result`) ?? 'EQUAL';
  const key = requiredBytes(body, 'key', `${where}.key`);
  const end = bytes(body, 'range_end', `${where}.range_end`);
  const operand = target === 'VALUE'
    ? (bytes(body, 'value', `${where}.value`) ?? new Uint8Array(0))
    : (int(body, { VERSION: 'version', CREATE: 'create_revision', MOD: 'mod_revision', LEASE: 'lease' }[target], `${where}.${snake(targetOf[target])}`) ?? 0);
  return { key, ...(end === undefined || end.length === 0 ? {} : { end }), target: targetOf[target], result: resultOf[result], value: operand };
}

function decodeTxnOp(value: unknown, where: string, level: number, queries: Map<TxnOp, RangeQuery>): TxnOp {
  const body = object(value, where);
  const put = field(body, 'request_put');
  const range = field(body, 'request_range');
  const del = field(body, 'request_delete_range');
  const txn = field(body, 'request_txn');
  const present = [put, range, del, txn].filter((v) => v !== undefined && v !== null).length;
  if (present !== 1) throw new BadFieldError(where, 'must hold exactly one of request_put, request_range, request_delete_range, request_txn');
  if (put !== undefined && put !== null) return decodePut(object(put, `${where}.request_put`), `${where}.request_put`);
  if (range !== undefined && range !== null) {
    const query = decodeRange(object(range, `${where}.request_range`), `${where}.request_range`);
    const op = txnRange(query);
    queries.set(op, query);
    return op;
  }
  if (txn !== undefined && txn !== null) return decodeTxnAt(object(txn, `${where}.request_txn`), `${where}.request_txn.`, level + 1, queries);
  return decodeDeleteRange(object(del, `${where}.request_delete_range`), `${where}.request_delete_range`);
}

function list(body: Json, name: string, where: string): unknown[] {
  const value = field(body, name);
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new BadFieldError(where, 'must be an array');
  return value;
}

/** A transaction, and the query of each of its range operations, nested ones' included (as kv-codec.ts txnFromProto). */
export function decodeTxn(body: Json): { request: TxnRequest; queries: Map<TxnOp, RangeQuery> } {
  const queries = new Map<TxnOp, RangeQuery>();
  return { request: decodeTxnAt(body, '', 1, queries), queries };
}

/** A transaction `level` levels deep (the outermost is 1), its fields named from `prefix`; too deep is refused before it recurses further. */
function decodeTxnAt(body: Json, prefix: string, level: number, queries: Map<TxnOp, RangeQuery>): TxnRequest {
  checkTxnNesting(level);
  return {
    type: 'txn',
    compare: list(body, 'compare', `${prefix}compare`).map((c, i) => decodeCompare(c, `${prefix}compare[${i}]`)),
    success: list(body, 'success', `${prefix}success`).map((o, i) => decodeTxnOp(o, `${prefix}success[${i}]`, level, queries)),
    failure: list(body, 'failure', `${prefix}failure`).map((o, i) => decodeTxnOp(o, `${prefix}failure[${i}]`, level, queries)),
  };
}

// ── Responses ──────────────────────────────────────────────────────────────────────────────────

export interface Header {
  clusterId: string;
  memberId: number;
  revision: number;
  raftTerm: number;
}

/** The cluster ID is kept as hex; etcd's header carries it as a uint64 (the gateway: in decimal). */
export function clusterIdToProto(clusterId: string): string {
  return /^[0-9a-f]{1,16}$/i.test(clusterId) ? BigInt(`0x${clusterId}`).toString() : '0';
}

export function encodeHeader(header: Header): Json {
  return { cluster_id: clusterIdToProto(header.clusterId), member_id: int64(header.memberId), revision: int64(header.revision), raft_term: int64(header.raftTerm) };
}

/** Leaves out fields at their default, as the gateway does. */
export function compact(body: Json): Json {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined && v !== false && v !== '0' && v !== '' && !(Array.isArray(v) && v.length === 0)));
}

export function encodeKv(kv: KeyValue): Json {
  return compact({
    key: b64(kv.key),
    create_revision: int64(kv.createRevision),
    mod_revision: int64(kv.modRevision),
    version: int64(kv.version),
    value: kv.value.length > 0 ? b64(kv.value) : undefined,
    lease: int64(kv.lease),
  });
}

export { int64 };
