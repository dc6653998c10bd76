// Shared set-up for the audit tests: temporary dirs, keys, the default policy and event inputs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../../src/base/index.ts';
import {
  AuditLog, type AuditEventInput, type AuditKeyPair, type AuditLogOptions, type AuditPolicy, generateAuditKeyPair, loadAuditPolicy,
} from '../../../src/audit/index.ts';

export const repoRoot = path.resolve(import.meta.dirname, '../../..');
export const defaultPolicyFile = path.join(repoRoot, 'policies/audit.yaml');

/** A fixed 32-byte HMAC key (tests only). */
export const hmacKey = new Uint8Array(32).map((_, i) => i + 1);

export async function tempDir(t: { after(fn: () => Promise<void>): void }, prefix = 'coffer-audit-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

let keys: AuditKeyPair | undefined;
export async function memberKeys(): Promise<AuditKeyPair> {
  keys ??= await generateAuditKeyPair();
  return keys;
}

export function defaultPolicy(): Promise<AuditPolicy> {
  return loadAuditPolicy(defaultPolicyFile);
}

let counter = 0;
/** A ResponseComplete event input for `GET /api/v1/namespaces/default/configmaps/app` unless overridden. */
export function input(overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  counter++;
  return {
    auditID: `00000000-0000-4000-8000-${counter.toString().padStart(12, '0')}`,
    stage: 'ResponseComplete',
    requestURI: '/api/v1/namespaces/default/configmaps/app',
    verb: 'get',
    user: { username: 'alice', groups: ['dev'] },
    sourceIPs: ['127.0.0.1'],
    objectRef: { resource: 'configmaps', namespace: 'default', name: 'app', apiVersion: 'v1' },
    responseStatus: { code: 200 },
    decision: 'allow',
    decisionReason: 'RBAC: allowed by RoleBinding dev-edit of Role edit in default',
    requestReceivedTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, 0)),
    stageTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, 1)),
    ...overrides,
  };
}

export interface TestLog {
  log: AuditLog;
  clock: ManualClock;
  dir: string;
}

/** Opens a log in `dir` with a manual clock; closes it after the test. */
export async function openLog(
  t: { after(fn: () => Promise<void>): void },
  dir: string,
  options: Partial<AuditLogOptions> = {},
): Promise<TestLog> {
  const clock = options.clock instanceof ManualClock ? options.clock : new ManualClock(Date.UTC(2026, 0, 1));
  const log = await AuditLog.open({
    dir, member: 'm1', keyPair: await memberKeys(), hmacKey, policy: options.policy ?? await defaultPolicy(), clock, ...options,
  });
  t.after(() => log.close());
  return { log, clock, dir };
}
