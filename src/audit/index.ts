/**
 * audit — the tamper-evident audit log: Kubernetes-shaped events, the audit policy, the hash chain with
 * signed checkpoints, durable group-committed files with rotation and retention, verification and
 * query. The API's audit plugin calls `AuditLog.record(event)` for every request, allowed or denied,
 * and fails the request with 503 when it rejects (fail closed). The cluster's HMAC key and each
 * member's signed checkpoints live in the replicated store (replicated.ts). See README.md for formats
 * and choices.
 *
 * Files are plain JSON lines (not sealed): they are meant for shipping to log systems, their integrity
 * comes from the chain and the signed, replicated checkpoints, and they hold no secret value (Secret
 * bodies are recorded only as HMAC digests), so plaintext at rest is acceptable here.
 *
 * Invariants: no secret value, nor its base64 or hex, is ever written; record() resolves only after the
 * line is on stable storage; after a write failure every record is refused until a signed recovery
 * record (the gap named) is durable — the log retries on its own;
 * the policy evaluator and the chain are pure; a broken log is reported, never silently repaired.
 */
export { AuditLog, type AuditLogEvents, type AuditLogOptions, type AuditLogStatus, type RecordOptions, requestAttributesOf } from './audit-log.ts';
export type { RetentionLimits } from './retention.ts';
export {
  type AuditEvent, type AuditEventInput, type AuditUser, type AuditObjectRef, type AuditDecision, decisionAnnotation, reasonAnnotation, memberAnnotation, streamAnnotation, truncatedAnnotation,
} from './event.ts';
export { type AuditLevel, type AuditStage, auditLevels, auditStages } from './levels.ts';
export {
  type AuditPolicy, type AuditRule, type AuditRequestAttributes, type AuditDecisionOfPolicy, type GroupResources, evaluateAuditPolicy, parseAuditPolicy, loadAuditPolicy,
} from './policy.ts';
export { digestMatches, digestValue, redactValueBody, digestPrefix } from './digest.ts';
export {
  type Checkpoint, type SignedCheckpoint, type ChainBreak, type ChainRecord, checkpointSignatureValid, genesisHash,
} from './chain.ts';
export { verifyAuditLog, describeOutage, type VerifyAuditOptions, type VerifyAuditResult } from './verify.ts';
export type { AuditOutage } from './chain-verifier.ts';
export { queryAuditLog, compileAuditQuery, latestStagePerRequest, matchesAuditQuery, type AuditQuery, type AuditQueryResult } from './query.ts';
export {
  type AuditKeyFileOptions, type AuditKeyPair, generateAuditKeyPair, wipeAuditKeyPair, sealAuditKeyPair, openAuditKeyPair, parseAuditKeyFile, loadOrCreateAuditKeyFile,
  auditKeyFileName, auditKeyStoreId, auditKeySealedFile,
} from './keys.ts';
export { auditDirOf, auditFileName } from './files.ts';
export {
  type ReplicatedStore, auditHmacKeyKey, checkpointPrefix, ensureAuditHmacKey, readNewestCheckpointTimes, readReplicatedCheckpoints, replicateCheckpoint,
} from './replicated.ts';
export { AuditError, AuditUnavailableError, AuditRecordRefusedError, AuditPolicyError, AuditKeyError, AuditQueryError, type AuditErrorCode } from './errors.ts';
