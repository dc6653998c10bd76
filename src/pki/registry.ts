/**
 * The registry of issued certificates (`<dir>/issued.json`): what `coffer ca list` shows and the
 * source of the CRL. Pure functions over an immutable value; ca.ts reads and writes it.
 *
 * Invariants: serials are canonical (serial.ts) and unique; exactly the records with `revokedAt` are on
 * the CRL; crlNumber counts CRLs written and never decreases.
 */
import { PkiError } from './errors.ts';

export type CertKind = 'ca' | 'member' | 'client';

export interface IssuedRecord {
  serial: string;
  kind: CertKind;
  /** Member name, user name, or the CA's common name. */
  name: string;
  /** RFC 4514 subject, for people. */
  subject: string;
  notBefore: string;
  notAfter: string;
  revokedAt?: string;
}

export interface Registry {
  version: 1;
  crlNumber: number;
  certificates: readonly IssuedRecord[];
}

export function emptyRegistry(): Registry {
  return { version: 1, crlNumber: 0, certificates: [] };
}

export function withIssued(registry: Registry, record: IssuedRecord): Registry {
  if (registry.certificates.some((r) => r.serial === record.serial)) {
    // 128 random bits: a repeat means a broken random source, not bad luck.
    throw new PkiError('REGISTRY_CORRUPT', `serial ${record.serial} is already in the registry`);
  }
  return { ...registry, certificates: [...registry.certificates, record] };
}

export interface RevokeResult {
  registry: Registry;
  record: IssuedRecord;
  alreadyRevoked: boolean;
}

/** Marks `serial` revoked at `at`; revoking twice keeps the first time. The CA itself cannot be revoked. */
export function withRevoked(registry: Registry, serial: string, at: Date): RevokeResult {
  const record = registry.certificates.find((r) => r.serial === serial);
  if (record === undefined) throw new PkiError('UNKNOWN_SERIAL', `no certificate with serial ${serial} was issued by this CA`);
  if (record.kind === 'ca') throw new PkiError('CANNOT_REVOKE_CA', `serial ${serial} is the CA itself; replace the CA instead`);
  if (record.revokedAt !== undefined) return { registry, record, alreadyRevoked: true };
  const revoked: IssuedRecord = { ...record, revokedAt: at.toISOString() };
  return {
    registry: { ...registry, certificates: registry.certificates.map((r) => (r === record ? revoked : r)) },
    record: revoked,
    alreadyRevoked: false,
  };
}

export function revokedRecords(registry: Registry): IssuedRecord[] {
  return registry.certificates.filter((r) => r.revokedAt !== undefined);
}

export function withNextCrlNumber(registry: Registry): Registry {
  return { ...registry, crlNumber: registry.crlNumber + 1 };
}

/** Parses and shape-checks issued.json; `path` names the file in errors. */
export function parseRegistry(text: string, path: string): Registry {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new PkiError('REGISTRY_CORRUPT', `${path} is not valid JSON`, { cause });
  }
  if (!isRegistry(value)) throw new PkiError('REGISTRY_CORRUPT', `${path} is not a Coffer certificate registry`);
  return value;
}

function isRegistry(value: unknown): value is Registry {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.version === 1
    && typeof v.crlNumber === 'number' && Number.isSafeInteger(v.crlNumber) && v.crlNumber >= 0
    && Array.isArray(v.certificates) && v.certificates.every(isRecord);
}

function isRecord(value: unknown): value is IssuedRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return typeof r.serial === 'string' && /^[0-9a-f]+$/.test(r.serial)
    && (r.kind === 'ca' || r.kind === 'member' || r.kind === 'client')
    && typeof r.name === 'string' && typeof r.subject === 'string'
    && typeof r.notBefore === 'string' && typeof r.notAfter === 'string'
    && (r.revokedAt === undefined || typeof r.revokedAt === 'string');
}
