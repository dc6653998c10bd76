/**
 * Stored values never enter the audit log. Where a policy level records bodies of a Secret or ConfigMap
 * endpoint, every value becomes `hmac-sha256:<salt hex>:<mac hex>`, the HMAC under the per-cluster audit
 * key of a random salt and the value, so an auditor holding the key can answer "was it this value?"
 * (digestMatches) while the log holds no value, no base64 and no hex of one. A `data` value is digested
 * over its decoded bytes and a `stringData` value over its UTF-8 bytes.
 *
 * Invariant: each digest has its own salt, so two digests of one value differ. Without the key a digest
 * says nothing: not whether two Secrets (or two keys of one) hold the same value, and not whether a
 * guess is right — a reader of the log could otherwise have the server digest its guess (in a dry-run
 * write of its own) and compare.
 *
 * Cost: the salts of one record are drawn from the CSPRNG in one call (DigestSalts), not one call per
 * value, and a body is counted (countDigests) before any digest is computed, so the audit step can leave
 * out a body that needs more digests than a record can hold (event.ts, auditRecordDigestsMax) without
 * doing the work first.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { setOwnMember } from '../base/index.ts';
import { auditHmacKeyBytesMin } from '../config/index.ts';

export const digestPrefix = 'hmac-sha256:';

/** The random salt of each digest, bytes. */
const digestSaltBytes = 16;

/**
 * The salts of one record's digests: `count` salts of 16 random bytes each, drawn in one call and each
 * handed out once. Asking for more than were drawn draws again (never reuses one), so a miscount costs a
 * draw, never a shared salt.
 */
export class DigestSalts {
  private bytes: Buffer;
  private next = 0;
  private readonly batch: number;

  constructor(count: number) {
    this.batch = Math.max(1, count);
    this.bytes = count > 0 ? randomBytes(count * digestSaltBytes) : Buffer.alloc(0);
  }

  take(): Buffer {
    if (this.next + digestSaltBytes > this.bytes.length) {
      this.bytes = randomBytes(this.batch * digestSaltBytes);
      this.next = 0;
    }
    const salt = this.bytes.subarray(this.next, this.next + digestSaltBytes);
    this.next += digestSaltBytes;
    return salt;
  }
}

/** The digest an audit record carries for `value` (a string is taken as its UTF-8 bytes), with a fresh salt. */
export function digestValue(key: Uint8Array, value: string | Uint8Array): string {
  checkHmacKey(key);
  return digestWith(key, randomBytes(digestSaltBytes), value);
}

function digestWith(key: Uint8Array, salt: Buffer, value: string | Uint8Array): string {
  return `${digestPrefix}${salt.toString('hex')}:${mac(key, salt, value).toString('hex')}`;
}

/** The auditor's check: whether `digest` (from an audit record) is of `value`, under the audit key. Constant time. */
export function digestMatches(key: Uint8Array, digest: string, value: string | Uint8Array): boolean {
  checkHmacKey(key);
  const match = new RegExp(`^${digestPrefix}([0-9a-f]{${2 * digestSaltBytes}}):([0-9a-f]{64})$`).exec(digest);
  if (match === null) return false;
  return timingSafeEqual(mac(key, Buffer.from(match[1]!, 'hex'), value), Buffer.from(match[2]!, 'hex'));
}

/**
 * HMAC-SHA256 of the salt and the value. One Hmac object per value: node:crypto has no one-shot HMAC and
 * an Hmac cannot be reset, and libsodium's wrappers (without sumo) have no HMAC-SHA256 at all; measured on
 * 100,000 values the object costs far less than the random draw per value it replaced (docs/security.md).
 */
function mac(key: Uint8Array, salt: Uint8Array, value: string | Uint8Array): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  try {
    return createHmac('sha256', key).update(salt).update(bytes).digest();
  } finally {
    // Our own copy of the value; the caller wipes theirs. (fill, not sodium: callers need not await sodium.)
    if (typeof value === 'string') bytes.fill(0);
  }
}

export function checkHmacKey(key: Uint8Array): void {
  if (key.length < auditHmacKeyBytesMin) {
    throw new RangeError(`audit HMAC key of ${key.length} bytes is shorter than ${auditHmacKeyBytesMin} (auditHmacKeyBytesMin)`);
  }
}

/**
 * Keys whose scalar values (or lists of scalars) describe a request's shape, never a stored value —
 * where the shape puts them: in the body itself, in an item of a list body or of `nestedShapes`.
 * Anywhere else (a JSON Patch operation's `value`, an unknown field) a key of these names is the
 * user's, and its value is digested like any other.
 */
const structuralKeys = new Set([
  'apiVersion', 'kind', 'type', 'immutable', // the object's identity and kind
  'op', 'path', 'from', // JSON Patch operations: what is changed where (the value is digested)
  'stage', 'version', 'key', 'length', 'charset', // Coffer's rotate, rollback and generate specs
  'resourceVersion', 'uid', 'gracePeriodSeconds', 'propagationPolicy', 'orphanDependents', 'dryRun', // DeleteOptions
]);

/** Fields whose items have the body's own shape: a list's objects, rotate's generate specs, kept versions, a delete's preconditions. */
const nestedShapes = new Set(['items', 'generate', 'versions', 'preconditions']);

/** Metadata fields kept as they are: names and bookkeeping, never a value. */
const clearMetadata = new Set([
  'name', 'namespace', 'generateName', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp',
  'deletionGracePeriodSeconds', 'labels', 'finalizers', 'ownerReferences',
]);

/** Annotations Coffer reads as settings (rotation schedule, versions kept): specs, never values. */
const settingAnnotationPrefix = 'coffer.dev/';

/**
 * A copy of a body sent to or returned by a value-bearing endpoint (a Secret's, or a ConfigMap's unless
 * the policy opts its namespace in) in which nothing a user stores can be read. Decided by endpoint,
 * not by the body's shape: whatever the body is — an object, a list, a merge or strategic merge patch,
 * a JSON Patch, a rotate body, raw text — only structural fields stay (kinds, names, labels, patch
 * operations and paths, rotation specs); every other value, at any depth, becomes its digest. The
 * values of a `data`, `stringData` or `binaryData` map are digested one by one (a `data` value over its
 * decoded bytes), so an auditor holding the key can still check which value was set; every annotation
 * but Coffer's settings is digested (one may hold a whole copy of the object, as kubectl's
 * last-applied configuration does). The input is not modified.
 */
export function redactValueBody(body: unknown, key: Uint8Array, endpoint: ValueEndpoint, salts?: DigestSalts): unknown {
  checkHmacKey(key);
  const d: Digesting = { key, dataEncoding: endpoint === 'secrets' ? 'base64' : 'utf8', salts: salts ?? new DigestSalts(countDigests(body, Number.POSITIVE_INFINITY)) };
  return redactNode(body, d);
}

/** The endpoints whose bodies carry stored values. A Secret's `data` is base64, a ConfigMap's plain text. */
export type ValueEndpoint = 'secrets' | 'configmaps';

interface Digesting {
  key: Uint8Array;
  dataEncoding: 'base64' | 'utf8';
  salts: DigestSalts;
}

/** `shaped`: the node sits where the body's shape is (see structuralKeys); below anything else every scalar is digested. */
function redactNode(node: unknown, d: Digesting, shaped = true): unknown {
  if (node === null || node === undefined) return node;
  if (Array.isArray(node)) return node.map((item) => redactNode(item, d, shaped));
  if (typeof node !== 'object') return digestScalar(node, d);
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(node)) {
    if (!shaped) setOwnMember(out, name, redactNode(value, d, false));
    else if (name === 'data') out[name] = digestMap(value, d, d.dataEncoding);
    else if (name === 'binaryData') out[name] = digestMap(value, d, 'base64');
    else if (name === 'stringData') out[name] = digestMap(value, d, 'utf8');
    else if (name === 'metadata') out[name] = redactMetadata(value, d);
    else if (structuralKeys.has(name) && isScalarOrScalars(value)) setOwnMember(out, name, value);
    else setOwnMember(out, name, redactNode(value, d, nestedShapes.has(name)));
  }
  return out;
}

function redactMetadata(metadata: unknown, d: Digesting): unknown {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) return redactNode(metadata, d);
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(metadata as Record<string, unknown>)) {
    if (clearMetadata.has(name)) out[name] = value;
    else if (name === 'annotations' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      out[name] = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, k.startsWith(settingAnnotationPrefix) ? v : redactNode(v, d, false)]));
    } else setOwnMember(out, name, redactNode(value, d, false));
  }
  return out;
}

function isScalarOrScalars(value: unknown): boolean {
  const scalar = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);
  return scalar(value) || (Array.isArray(value) && value.every(scalar));
}

function digestScalar(value: unknown, d: Digesting): string {
  return digestWith(d.key, d.salts.take(), typeof value === 'string' ? value : JSON.stringify(value));
}

function digestMap(map: unknown, d: Digesting, encoding: 'base64' | 'utf8'): unknown {
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    // Not the shape Kubernetes uses; still never let it through in the clear.
    return map === null || map === undefined ? map : digestWith(d.key, d.salts.take(), JSON.stringify(map));
  }
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(map)) {
    if (value === null) {
      setOwnMember(out, name, null); // a merge patch deleting the key: no value to hide
    } else if (typeof value === 'string' && encoding === 'base64') {
      const bytes = Buffer.from(value, 'base64');
      setOwnMember(out, name, digestWith(d.key, d.salts.take(), bytes));
      bytes.fill(0);
    } else {
      setOwnMember(out, name, digestScalar(value, d));
    }
  }
  return out;
}

/**
 * How many digests redactValueBody computes for `body` (the same walk, without computing any): exact up
 * to `limit`; past it the count stops at some number above `limit`, so a body far over costs no more to
 * count than one just over. Walking the nodes that need no digest (structural fields, nulls) is the
 * only work beyond that.
 */
export function countDigests(body: unknown, limit: number): number {
  const c = { n: 0, limit };
  countNode(body, c, true);
  return c.n;
}

interface Counting {
  n: number;
  limit: number;
}

function countNode(node: unknown, c: Counting, shaped: boolean): void {
  if (c.n > c.limit || node === null || node === undefined) return;
  if (Array.isArray(node)) {
    for (const item of node as unknown[]) {
      if (c.n > c.limit) return;
      countNode(item, c, shaped);
    }
    return;
  }
  if (typeof node !== 'object') {
    c.n++;
    return;
  }
  for (const name of Object.keys(node)) {
    if (c.n > c.limit) return;
    const value = (node as Record<string, unknown>)[name];
    if (!shaped) countNode(value, c, false);
    else if (name === 'data' || name === 'binaryData' || name === 'stringData') countMap(value, c);
    else if (name === 'metadata') countMetadata(value, c);
    else if (structuralKeys.has(name) && isScalarOrScalars(value)) continue;
    else countNode(value, c, nestedShapes.has(name));
  }
}

function countMetadata(metadata: unknown, c: Counting): void {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    countNode(metadata, c, true);
    return;
  }
  for (const name of Object.keys(metadata)) {
    if (c.n > c.limit) return;
    const value = (metadata as Record<string, unknown>)[name];
    if (clearMetadata.has(name)) continue;
    if (name === 'annotations' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const k of Object.keys(value)) {
        if (c.n > c.limit) return;
        if (!k.startsWith(settingAnnotationPrefix)) countNode((value as Record<string, unknown>)[k], c, false);
      }
    } else countNode(value, c, false);
  }
}

function countMap(map: unknown, c: Counting): void {
  if (map === null || map === undefined) return;
  if (typeof map !== 'object' || Array.isArray(map)) {
    c.n++;
    return;
  }
  const names = Object.keys(map);
  for (let i = 0; i < names.length && c.n <= c.limit; i++) if ((map as Record<string, unknown>)[names[i]!] !== null) c.n++;
}
