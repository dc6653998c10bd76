// Shared set-up for the audit tests: temporary dirs, keys, the default policy and event inputs.
import type * as NodeCrypto from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { mock } from 'node:test';
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

/** Runs `fn` counting node:crypto's random draws and HMAC objects (what the audit code imports is the builtin's live binding). */
export function countingCrypto<T>(fn: () => T): { result: T; draws: number; hmacs: number } {
  const counting = startCountingCrypto();
  try {
    const result = fn();
    return { result, ...counting.counts() };
  } finally {
    counting.stop();
  }
}

/** The same for an async `fn`: counts until it settles (everything the process does meanwhile). */
export async function countingCryptoAsync<T>(fn: () => Promise<T>): Promise<{ result: T; draws: number; hmacs: number }> {
  const counting = startCountingCrypto();
  try {
    const result = await fn();
    return { result, ...counting.counts() };
  } finally {
    counting.stop();
  }
}

function startCountingCrypto(): { counts(): { draws: number; hmacs: number }; stop(): void } {
  const crypto = createRequire(import.meta.url)('node:crypto') as typeof NodeCrypto;
  const draws = [mock.method(crypto, 'randomBytes'), mock.method(crypto, 'randomFillSync')];
  const hmac = mock.method(crypto, 'createHmac');
  syncBuiltinESMExports();
  return {
    counts: () => ({ draws: draws.reduce((n, m) => n + m.mock.callCount(), 0), hmacs: hmac.mock.callCount() }),
    stop: () => {
      for (const m of [...draws, hmac]) m.mock.restore();
      syncBuiltinESMExports();
    },
  };
}
