/**
 * Scheduled rotation, the loop: every `intervalMs` on the injected Clock, the member — only while it is
 * the Raft leader — asks the registry which Secrets are due (coffer.dev/rotate-every with
 * coffer.dev/rotate-generate; the decision is registry's dueRotations) and rotates each one under the
 * system identity `system:coffer:rotation`, which becomes the new version's createdBy.
 *
 * Exactly once per period, across leader changes and with members' clocks a little apart: the due time
 * comes from the store (the current version's createdAt), not from this loop's memory, and each
 * rotation is one txn conditioned on the mod revision the Secret was found due at — a second leader or
 * a retry that read the same period fails the compare and changes nothing.
 *
 * A current version stamped after this leader's now (a leader whose clock ran ahead made it) counts
 * from when this leader first saw it (`firstSeen`, this loop's only memory, dropped once the version
 * is no longer ahead or current), so one term on a bad clock delays the next rotation by at most one
 * period after a leader with a correct clock takes over — not until the future date. Each such version
 * is logged once.
 *
 * Each rotation is audited through the member's audit log as the API records a change: stage
 * RequestReceived BEFORE it is written (verb `rotate`, the Secret as objectRef, decision allow, reason
 * "scheduled rotation") — if that record cannot be made durable, the Secret is not rotated this time
 * (fail closed) and the next check tries again — then ResponseComplete under the same auditID with the
 * outcome as a status code (200 rotated, 409 lost the compare, 500 failed). Generated values are never
 * logged.
 */
import { randomUUID } from 'node:crypto';
import type { KvBackend } from '../api/index.ts';
import type { AuditEventInput } from '../audit/index.ts';
import type { Clock } from '../base/index.ts';
import { rotationCheckIntervalMs } from '../config/index.ts';
import { type DueRotation, Registry } from '../registry/index.ts';
import { Periodic } from './periodic.ts';

/** The identity scheduled rotations are made and audited under. */
export const rotationUser = { username: 'system:coffer:rotation', groups: ['system:coffer'] };
export const rotationAuditReason = 'scheduled rotation';

export interface RotationSchedulerOptions {
  backend: Pick<KvBackend, 'propose' | 'range' | 'mvcc' | 'status' | 'isServing'>;
  clock: Clock;
  /** The member's audit log (MemberAudit). */
  audit: { record(input: AuditEventInput): Promise<unknown> };
  /** Default rotationCheckIntervalMs. */
  intervalMs?: number;
  log?: { info: (fields: object, message: string) => void; warn: (fields: object, message: string) => void };
}

/** What one check did; `namespace/name` of each Secret. */
export interface RotationPass {
  leader: boolean;
  rotated: string[];
  /** Found due, but changed (or went) before the rotation's txn: another writer got there first. */
  skipped: string[];
  failed: string[];
}

export class RotationScheduler {
  private readonly registry: Registry;
  private readonly periodic: Periodic;
  /** When this member first saw each current version stamped in its future (checkRotations' key). */
  private firstSeen = new Map<string, number>();

  constructor(private readonly options: RotationSchedulerOptions) {
    // Versions this loop writes carry the injected clock's time: the next due time is measured from it.
    this.registry = new Registry(options.backend, { nowMs: () => options.clock.nowMs() });
    this.periodic = new Periodic({
      clock: options.clock,
      intervalMs: options.intervalMs ?? rotationCheckIntervalMs,
      run: () => this.runOnce(),
      onError: (error) => options.log?.warn({ reason: error.message }, 'the scheduled rotation check failed; the next check tries again'),
    });
  }

  start(): void {
    this.periodic.start();
  }

  /** Cancels the timer and waits for a check in progress. */
  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** Resolves when the check in progress (if any) has finished: tests await it after moving the clock. */
  settled(): Promise<void> {
    return this.periodic.settled();
  }

  /** One check: nothing unless this member is the leader; otherwise every due Secret, oldest due first. */
  async runOnce(): Promise<RotationPass> {
    const pass: RotationPass = { leader: false, rotated: [], skipped: [], failed: [] };
    const { backend, clock, log } = this.options;
    if (!backend.isServing() || backend.status().role !== 'leader') return pass;
    pass.leader = true;
    const nowMs = clock.nowMs();
    const { due, ahead } = await this.registry.checkSecretRotations(nowMs, this.firstSeen);
    const seen = new Map<string, number>();
    for (const version of ahead) {
      const first = this.firstSeen.get(version.key);
      if (first === undefined) {
        log?.warn({ namespace: version.namespace, name: version.name, version: version.version, createdAt: version.createdAt, now: new Date(nowMs).toISOString() },
          'a Secret\'s current version is stamped in the future (a leader\'s clock ran ahead); its next scheduled rotation counts from now');
      }
      seen.set(version.key, first ?? nowMs);
    }
    this.firstSeen = seen;
    for (const item of due) {
      // Leadership can move during a long check; the txn's compare is the real guard, this saves work.
      if (this.periodic.stopped || !backend.isServing() || backend.status().role !== 'leader') break;
      const ref = `${item.namespace}/${item.name}`;
      const received = auditInput(item, clock.nowMs());
      try {
        await this.options.audit.record(received);
      } catch (error) {
        pass.failed.push(ref);
        log?.warn({ namespace: item.namespace, name: item.name, reason: (error as Error).message }, 'scheduled rotation not audited, so not made; the next check tries again');
        continue;
      }
      let code: number;
      try {
        const rotated = await this.registry.rotateDue(item, { actor: rotationUser.username });
        if (rotated === undefined) {
          code = 409;
          pass.skipped.push(ref);
        } else {
          code = 200;
          pass.rotated.push(ref);
          log?.info({ namespace: item.namespace, name: item.name, resourceVersion: rotated.modRevision }, 'scheduled rotation');
        }
      } catch (error) {
        code = 500;
        pass.failed.push(ref);
        log?.warn({ namespace: item.namespace, name: item.name, reason: (error as Error).message }, 'scheduled rotation failed; the next check tries again');
      }
      const completed: AuditEventInput = { ...received, stage: 'ResponseComplete', stageTimestamp: new Date(clock.nowMs()), responseStatus: { code } };
      // As in the API: the outcome stands whether or not its completion record is taken.
      await this.options.audit.record(completed).catch((error: Error) =>
        log?.warn({ namespace: item.namespace, name: item.name, reason: error.message }, 'scheduled rotation: completion record refused'));
    }
    return pass;
  }
}

function auditInput(item: DueRotation, nowMs: number): AuditEventInput {
  const at = new Date(nowMs);
  return {
    auditID: randomUUID(),
    stage: 'RequestReceived',
    requestURI: `/apis/coffer.dev/v1/namespaces/${encodeURIComponent(item.namespace)}/secrets/${encodeURIComponent(item.name)}/rotate`,
    verb: 'rotate',
    user: { username: rotationUser.username, groups: [...rotationUser.groups] },
    sourceIPs: [],
    objectRef: { resource: 'secrets', namespace: item.namespace, name: item.name, apiVersion: 'v1' },
    decision: 'allow',
    decisionReason: rotationAuditReason,
    requestReceivedTimestamp: at,
    stageTimestamp: at,
    annotations: { 'coffer.dev/rotation-due-at': new Date(item.dueAtMs).toISOString() },
  };
}
