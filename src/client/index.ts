/**
 * client — the typed HTTPS client for the KV API on a member's client port (the shapes of etcd 3.4's
 * JSON gateway, which Coffer implements), used by the CLI, the scripts and the tests. Mutual TLS,
 * keep-alive, several endpoints with failover, a deadline per request.
 *
 * Invariants: a request is retried on another endpoint only when it was certainly never sent, or when
 * it is a read; every failure is a ClientError whose `indeterminate` flag is true exactly when a write
 * may have taken effect; no key or value ever appears in an error message.
 */
export { ClientError, type ClientErrorCode, isClientError } from './errors.ts';
export { type Bytes, fromBase64, prefixEnd, text, toBase64, toBytes } from './bytes.ts';
export { tlsFromFiles, type TlsFilePaths } from './tls.ts';
export { HttpsTransport, type PostOptions, type TransportOptions } from './transport.ts';
export { type CallOptions, KvClient, type KvClientOptions } from './kv-client.ts';
export type {
  Compare, CompareResult, DeleteOptions, DeleteResult, HashKvResult, KeyValue, Member, MemberAddResult, MemberListResult, PutOptions, PutResult,
  RangeOptions, RangeResult, RequestOp, ResponseHeader, ResponseOp, StatusResult, TxnRequest, TxnResult,
} from './types.ts';
