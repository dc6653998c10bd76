/**
 * client — the typed HTTPS clients for a member's client port, used by the CLI, the scripts and the
 * tests: KvClient for the KV API (the shapes of etcd 3.4's JSON gateway, which Coffer implements),
 * GrpcKvClient for the same calls over gRPC (the benchmark's `--protocol grpc`), and
 * K8sClient for the Kubernetes-shaped API and Coffer's own group (Status errors become K8sApiError;
 * given one member's endpoint it speaks to that member only, as `coffer keys` needs). Mutual TLS,
 * keep-alive, several endpoints with one failover loop (failover.ts), a deadline per request.
 *
 * Invariants: a request is retried on another endpoint only when it was certainly never sent, or when
 * it is a read; every failure is a ClientError (or, from K8sClient, a K8sApiError carrying the server's
 * Status) whose `indeterminate` flag is true exactly when a write may have taken effect; no key or
 * value ever appears in an error message.
 */
export { ClientError, type ClientErrorCode, isClientError } from './errors.ts';
export { type Bytes, bytesInWords, fromBase64, prefixEnd, text, toBase64, toBytes } from './bytes.ts';
export { tlsFromFiles, type TlsFilePaths } from './tls.ts';
export { HttpsTransport, type PostOptions, type TransportOptions } from './transport.ts';
export { type CallOptions, KvClient, type KvClientOptions } from './kv-client.ts';
export { GrpcKvClient, type GrpcKvClientOptions } from './grpc-kv-client.ts';
export {
  isK8sApiError, isNamespacedResource, K8sApiError, K8sClient, type K8sClientOptions, type K8sList, type K8sObject, type K8sObjectMeta,
  type K8sResource, type K8sStatusDetails, type K8sWatch, type K8sWatchEvent, type K8sWatchEventType, type ListOptions as K8sListOptions,
  type KeyRotationView, type MemberKeysView, type NamespaceOption, type PatchType, type SecretVersionInfo, type SecretVersionList, type WatchOptions as K8sWatchOptions,
} from './k8s-client.ts';
export type {
  Compare, CompareResult, DeleteOptions, DeleteResult, HashKvResult, KeyValue, Member, MemberAddResult, MemberListResult, PutOptions, PutResult,
  RangeOptions, RangeResult, RequestOp, ResponseHeader, ResponseOp, StatusResult, TxnRequest, TxnResult,
} from './types.ts';
