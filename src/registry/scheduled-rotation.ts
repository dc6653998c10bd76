/**
 * Scheduled rotation, the pure half: which Secrets ask for it, and which are due at time T.
 *
 *   coffer.dev/rotate-every: 720h                      a Go-style duration (h, m, s, ms; "1h30m"),
 *                                                      from rotateEveryMsMin to rotateEveryMsMax
 *   coffer.dev/rotate-generate: password:32:alnum,pin:6:hex   what to generate, as `rotate --generate`
 *
 * Both or neither; not on an immutable Secret. Bad values are refused when the Secret is written (422).
 *
 * A Secret is due once its CURRENT version is `every` old: the due time is the current version's
 * createdAt (stored in the cluster, written by whichever member made the version) plus the period —
 * never anything a member remembers — so a new leader, or a member whose clock is a little off,
 * reaches the same decision from the same store. Any new version (a manual rotate or update, a
 * promote, a rollback) restarts the period, as "rotate when the value is older than X" reads.
 *
 * A createdAt in the future of the deciding leader's now (a leader whose clock ran ahead stamped it)
 * counts as the moment this leader first saw it (`firstSeenMs`, the caller's memory; now when it has
 * none), so the Secret is due one period after a leader with a correct clock first sees it — never on
 * the future date. Such versions are named in `ahead`, so the caller can remember and warn once.
 *
 * Invariant: checkRotations is a pure function of (Secrets with their histories, now, first sightings);
 * exactly-once per period comes from the caller's write being conditioned on the mod revision read
 * with the Secret, whatever each leader's memory says.
 */
import { rotateEveryMsMax, rotateEveryMsMin } from '../config/index.ts';
import type { StatusCause } from './errors.ts';
import { type GenerateSpec, parseGenerateList } from './generate.ts';
import { isJson, type Json, type StoredObject, type VersionedObject } from './object.ts';

/** What the decision reads of a Secret's history (versions.ts): when each version was made, the current last. */
export interface HistoryTimes {
  versions: readonly { version: number; createdAt: string }[];
}

export const rotateEveryAnnotation = 'coffer.dev/rotate-every';
export const rotateGenerateAnnotation = 'coffer.dev/rotate-generate';

export interface RotationSchedule {
  everyMs: number;
  generate: GenerateSpec[];
}

export interface DueRotation {
  namespace: string;
  name: string;
  /** The Secret's mod revision when it was found due: the rotation's precondition. */
  modRevision: number;
  generate: GenerateSpec[];
  dueAtMs: number;
}

/** A current version stamped after the deciding leader's now; `key` names it for the leader's memory. */
export interface AheadVersion {
  key: string;
  namespace: string;
  name: string;
  version: number;
  createdAt: string;
}

export interface RotationCheck {
  /** Oldest due first. */
  due: DueRotation[];
  ahead: AheadVersion[];
}

const unitMs: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** A Go-style duration ("720h", "1h30m", "90s", "1.5h") in milliseconds; undefined if not one. */
export function parseDuration(text: string): number | undefined {
  if (text.length === 0 || text.length > 64 || !/^(\d+(\.\d+)?(ms|h|m|s))+$/.test(text)) return undefined;
  let total = 0;
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) total += Number(match[1]) * unitMs[match[2]!]!;
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** The rotate-every annotation's period in ms, if it is a duration within the allowed range. */
function periodMsOf(text: string): number | undefined {
  const ms = parseDuration(text);
  return ms !== undefined && ms >= rotateEveryMsMin && ms <= rotateEveryMsMax ? ms : undefined;
}

/** Why the rotation annotations of a Secret about to be written are refused (none: fine). */
export function rotationAnnotationCauses(annotations: unknown, immutable: unknown): StatusCause[] {
  if (!isJson(annotations)) return [];
  const every = annotations[rotateEveryAnnotation];
  const generate = annotations[rotateGenerateAnnotation];
  if (every === undefined && generate === undefined) return [];
  const causes: StatusCause[] = [];
  const field = (name: string) => `metadata.annotations[${name}]`;
  const shown = (v: unknown) => JSON.stringify(String(v).slice(0, 64));
  if (every === undefined || generate === undefined) {
    const missing = every === undefined ? rotateEveryAnnotation : rotateGenerateAnnotation;
    causes.push({ field: field(missing), message: `Required value: ${rotateEveryAnnotation} and ${rotateGenerateAnnotation} go together`, reason: 'FieldValueRequired' });
  }
  if (typeof every === 'string') {
    if (periodMsOf(every) === undefined) {
      causes.push({
        field: field(rotateEveryAnnotation),
        message: `Invalid value: ${shown(every)}: must be a duration such as 720h or 1h30m, from ${rotateEveryMsMin / 1000}s to ${rotateEveryMsMax / 3_600_000}h`,
        reason: 'FieldValueInvalid',
      });
    }
  }
  if (typeof generate === 'string') {
    const specs = parseGenerateList(generate);
    if (typeof specs === 'string') causes.push({ field: field(rotateGenerateAnnotation), message: `Invalid value: ${specs}`, reason: 'FieldValueInvalid' });
  }
  if (immutable === true) {
    causes.push({ field: field(rotateEveryAnnotation), message: 'Forbidden: an immutable Secret cannot be rotated', reason: 'FieldValueForbidden' });
  }
  return causes;
}

/** The schedule a stored Secret asks for; undefined when it asks for none or its annotations are unusable. */
export function rotationScheduleOf(secret: StoredObject): RotationSchedule | undefined {
  const annotations: Json | undefined = secret.metadata.annotations;
  if (annotations === undefined || secret.immutable === true) return undefined;
  const every = annotations[rotateEveryAnnotation];
  const generate = annotations[rotateGenerateAnnotation];
  if (typeof every !== 'string' || typeof generate !== 'string') return undefined;
  const everyMs = periodMsOf(every);
  const specs = parseGenerateList(generate);
  if (everyMs === undefined || typeof specs === 'string') return undefined;
  return { everyMs, generate: specs };
}

/** The Secrets due at `nowMs`, oldest due first; versions stamped in the future count from `firstSeenMs` (else now). */
export function checkRotations(
  entries: readonly { secret: VersionedObject; history: HistoryTimes }[], nowMs: number, firstSeenMs: ReadonlyMap<string, number>,
): RotationCheck {
  const due: DueRotation[] = [];
  const ahead: AheadVersion[] = [];
  for (const { secret, history } of entries) {
    const schedule = rotationScheduleOf(secret.object);
    const current = history.versions[history.versions.length - 1];
    const { namespace, name } = secret.object.metadata;
    if (schedule === undefined || current === undefined || namespace === undefined) continue;
    let createdMs = Date.parse(current.createdAt);
    if (!Number.isFinite(createdMs)) continue;
    if (createdMs > nowMs) {
      const key = `${namespace}/${name}#${current.version}@${current.createdAt}`;
      ahead.push({ key, namespace, name, version: current.version, createdAt: current.createdAt });
      createdMs = Math.min(firstSeenMs.get(key) ?? nowMs, nowMs);
    }
    const dueAtMs = createdMs + schedule.everyMs;
    if (dueAtMs > nowMs) continue;
    due.push({ namespace, name, modRevision: secret.modRevision, generate: schedule.generate, dueAtMs });
  }
  return { due: due.sort((a, b) => a.dueAtMs - b.dueAtMs), ahead };
}

/** The Secrets due at `nowMs` for a leader that remembers no version stamped in the future (checkRotations). */
export function dueRotations(entries: readonly { secret: VersionedObject; history: HistoryTimes }[], nowMs: number): DueRotation[] {
  return checkRotations(entries, nowMs, new Map()).due;
}
