/**
 * api — the client port: a fastify app with the etcd-shaped KV API (kv/), identity from the verified
 * client certificate, and errors in one shape that never echoes internal messages.
 * Invariant: no route runs for a request without an identity; a handler's error reaches the client
 * only through toApiError.
 */
export { type ApiRoute, buildClientApi, type ClientApiOptions, routeTable } from './app.ts';
export { type ApiAudit, type MemberAuditVerification, withOneEventPerRequest } from './audit-plugin.ts';
export type { AuditEventList, AuditVerification, MemberOutcome } from './k8s/audit-routes.ts';
export { type HealthCheck, type HealthChecks, replicaHealthChecks } from './health.ts';
export { identifyByCertificate, type Identify } from './identity.ts';
export { registerKeysRoutes, keysPath, type KeysAdmin, type MemberKeysStatus, type NewKek, type DekInfo } from './admin/keys.ts';
export { type KvBackend, replicaBackend } from './kv/backend.ts';
