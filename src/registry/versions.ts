/**
 * Secret versions: the numbered history of a Secret's `data`, kept as ONE JSON value at
 * `/registry/coffer.dev/secretversions/<ns>/<name>` beside the Secret and written in the SAME txn as
 * the Secret (create, every update that changes data, delete, namespace delete), so the two never
 * disagree. The history holds the current data too (its last entry), as Vault's KV v2 does, so a
 * version can be read and rolled back to by number alone.
 *
 * Two-phase rotation adds an optional `pending` stage: the keys a `rotate` with `stage: true` set,
 * kept beside the versions until `promote` merges them into the then-current data as a new version
 * (other keys kept, as rotate does). Staging writes only this value, never the Secret, so the Secret's
 * resourceVersion does not move and watchers of Secrets see nothing; every writer of this value
 * compares its mod revision too (registry.ts), so a stage and a concurrent update cannot lose each
 * other. Stages as the versions endpoint shows them: the last entry is `current`, the one before it
 * `previous`, the staged keys `pending` (numbered as the version promote will make, last + 1).
 *
 * Invariants: version numbers only grow (1 on create, +1 per data change); the last entry is the
 * Secret's current data; at most max-versions entries (annotation coffer.dev/max-versions, 1–100,
 * default secretVersionsDefault) and the whole value fits valueBytesMax — the oldest entries go
 * first, the current one and the pending stage never. The value is never a registry object (no
 * metadata), so object decoders skip it; it is never returned except through the versions endpoint.
 */
import { secretVersionsDefault, secretVersionsMax, valueBytesMax } from '../config/index.ts';
import { equalValues } from './equal-values.ts';
import { invalidError, RegistryError } from './errors.ts';
import { registryPrefix } from './keys.ts';
import { isJson, type StoredObject } from './object.ts';

export const maxVersionsAnnotation = 'coffer.dev/max-versions';
export const secretVersionsPrefix = `${registryPrefix}coffer.dev/secretversions/`;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface SecretVersion {
  version: number;
  createdAt: string;
  createdBy: string;
  data: Record<string, string>;
}

/** Staged keys (base64 values) waiting for promote; who staged them and when. */
export interface PendingStage {
  createdAt: string;
  createdBy: string;
  data: Record<string, string>;
}

export interface VersionHistory {
  versions: SecretVersion[];
  pending?: PendingStage;
}

export type VersionStage = 'current' | 'previous' | 'pending' | '';

/** The stage of version `version` in `history` (pending has none here: it is not a version yet). */
export function stageOf(history: VersionHistory, version: number): VersionStage {
  const n = history.versions.length;
  if (history.versions[n - 1]?.version === version) return 'current';
  if (history.versions[n - 2]?.version === version) return 'previous';
  return '';
}

/** The data promote would make current: the current data with the staged keys set. */
export function pendingData(history: VersionHistory): Record<string, string> | undefined {
  if (history.pending === undefined) return undefined;
  const current = history.versions[history.versions.length - 1];
  return { ...(current?.data ?? {}), ...history.pending.data };
}

export function versionsKey(namespace: string, name: string): Uint8Array {
  return encoder.encode(`${secretVersionsPrefix}${namespace}/${name}`);
}

export function versionsNamespacePrefix(namespace: string): Uint8Array {
  return encoder.encode(`${secretVersionsPrefix}${namespace}/`);
}

/** How many versions this Secret keeps; a bad annotation is a validation error of the write. */
export function maxVersionsOf(secret: StoredObject): number {
  const text = secret.metadata.annotations?.[maxVersionsAnnotation];
  if (text === undefined) return secretVersionsDefault;
  const n = /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= secretVersionsMax)) {
    throw invalidError('Secret', secret.metadata.name, '', [{
      field: `metadata.annotations[${maxVersionsAnnotation}]`,
      message: `Invalid value: ${JSON.stringify(text.slice(0, 32))}: must be an integer from 1 to ${secretVersionsMax}`,
      reason: 'FieldValueInvalid',
    }]);
  }
  return n;
}

export function dataOf(secret: StoredObject): Record<string, string> {
  return isJson(secret.data) ? { ...(secret.data as Record<string, string>) } : {};
}

/**
 * The history after `next` was written. `previous` undefined: the Secret is new, or predates
 * versions (its current data then becomes the first entry, by an unknown author). Returns undefined
 * when the data did not change (no new version, nothing to write), unless `alwaysNew`.
 */
export function nextHistory(
  previous: VersionHistory | undefined, current: StoredObject | undefined, next: StoredObject, actor: string, at: string,
  options: { clearPending?: boolean; alwaysNew?: boolean } = {},
): VersionHistory | undefined {
  // A pending stage outlives other writes; only promote (clearPending) consumes it.
  const pending = options.clearPending === true ? undefined : previous?.pending;
  const withPending = (h: VersionHistory): VersionHistory => (pending !== undefined ? { ...h, pending } : h);
  const base: SecretVersion[] = previous !== undefined ? [...previous.versions]
    : current !== undefined ? [{ version: 1, createdAt: current.metadata.creationTimestamp, createdBy: '', data: dataOf(current) }] : [];
  const data = dataOf(next);
  const last = base[base.length - 1];
  const keep = maxVersionsOf(next);
  // alwaysNew: a write by a caller who may not read the values makes a version even of the same data.
  const unchanged = options.alwaysNew !== true && last !== undefined && equalValues(last.data, data);
  if (unchanged && previous !== undefined && base.length <= keep && pending === previous.pending) return undefined;
  const entries = unchanged ? base : [...base, { version: (last?.version ?? 0) + 1, createdAt: at, createdBy: actor, data }];
  while (entries.length > keep) entries.shift();
  return withPending({ versions: entries });
}

/** Encodes a history, dropping the oldest entries (never the current one) until it fits a KV value. */
export function encodeHistory(history: VersionHistory): Uint8Array {
  const versions = [...history.versions];
  const pending = history.pending !== undefined ? { pending: history.pending } : {};
  for (;;) {
    const value = encoder.encode(JSON.stringify({ versions, ...pending }));
    if (value.length <= valueBytesMax || versions.length <= 1) return value;
    versions.shift();
  }
}

/** Decodes a stored history; anything else (absent, damaged) is undefined. */
export function decodeHistory(value: Uint8Array | undefined): VersionHistory | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(value));
  } catch {
    return undefined;
  }
  if (!isJson(parsed) || !Array.isArray(parsed.versions)) return undefined;
  const versions = parsed.versions.filter((v): v is SecretVersion => isJson(v) && typeof v.version === 'number' && typeof v.createdAt === 'string'
    && typeof v.createdBy === 'string' && isJson(v.data));
  const p = parsed.pending;
  const pending = isJson(p) && typeof p.createdAt === 'string' && typeof p.createdBy === 'string' && isJson(p.data)
    ? { createdAt: p.createdAt, createdBy: p.createdBy, data: p.data as Record<string, string> } : undefined;
  return pending !== undefined ? { versions, pending } : { versions };
}

export function findVersion(history: VersionHistory, secretName: string, version: number): SecretVersion {
  const found = history.versions.find((v) => v.version === version);
  if (found === undefined) {
    throw new RegistryError('NotFound', `secrets ${JSON.stringify(secretName)} has no version ${version} (kept: ${history.versions.map((v) => v.version).join(', ') || 'none'})`, {
      name: secretName, group: '', kind: 'secrets',
    });
  }
  return found;
}
