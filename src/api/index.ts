/**
 * api — the client port: one fastify app, the steps every request passes as one shared plugin
 * (pipeline.ts: gate → audit → metrics), then four API plugins, each with its own body parsers, error
 * handler and not-found handler in its own dialect (dialect.ts): the Kubernetes API at the root
 * (k8s/), etcd's JSON gateway under /v3 (kv/), etcd's gRPC API (grpc/), admin (admin/).
 * Invariant: no route runs for a request without an identity; a handler's error reaches the client
 * only through its API's dialect, which never echoes internal messages.
 */
export { type ApiRoute, buildClientApi, type ClientApiOptions, routeTable } from './app.ts';
export { type ApiAudit, type MemberAuditVerification, withOneEventPerRequest } from './audit-plugin.ts';
export { pipelinedOverflowEvent, streamRequestTimeoutEvent } from './client-error.ts';
export type { AuditEventList, AuditVerification, MemberOutcome } from './k8s/audit-routes.ts';
export { type HealthCheck, type HealthChecks, replicaHealthChecks } from './health.ts';
export { identifyByCertificate, type Identify } from './identity.ts';
export type { KeysAdmin } from './admin/keys.ts';
export { type KvBackend, replicaBackend } from './kv/backend.ts';
export type { GrpcSnapshotOptions } from './grpc/snapshot.ts';
