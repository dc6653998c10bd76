/**
 * Secret values never enter the audit log. Where a policy level records bodies, every value of a
 * Secret's `data` and `stringData` becomes `hmac-sha256:<hex>` under the per-cluster audit HMAC key, so
 * an auditor holding the key can answer "was it this value?" while the log holds no value, no base64
 * and no hex of one. A `data` value is digested over its decoded bytes and a `stringData` value over its
 * UTF-8 bytes, so the same value gives the same digest however it was sent.
 */
import { createHmac } from 'node:crypto';
import { auditHmacKeyBytesMin } from '../config/index.ts';

export const digestPrefix = 'hmac-sha256:';

/** The digest an audit record carries for `value` (a string is taken as its UTF-8 bytes). */
export function digestValue(key: Uint8Array, value: string | Uint8Array): string {
  checkHmacKey(key);
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  try {
    return digestPrefix + createHmac('sha256', key).update(bytes).digest('hex');
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

/** kubectl stores a whole applied object here, Secret values included. */
const lastAppliedAnnotation = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * A copy of a body sent to or returned by a Secret endpoint with every secret value replaced by its
 * digest: values of any `data` or `stringData` map at any depth (an object, a list's items, a merge
 * patch, a version history), and the last-applied annotation. A body that is not an object or array
 * (raw text the API could not parse) is digested whole. The input is not modified.
 */
export function redactSecretBody(body: unknown, key: Uint8Array): unknown {
  checkHmacKey(key);
  if (body === null || body === undefined) return body;
  if (typeof body !== 'object') return digestValue(key, typeof body === 'string' ? body : JSON.stringify(body));
  return redactNode(body, key);
}

function redactNode(node: unknown, key: Uint8Array): unknown {
  if (Array.isArray(node)) return node.map((item) => redactNode(item, key));
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(node)) {
    if (name === 'data') out[name] = digestMap(value, key, 'base64');
    else if (name === 'stringData') out[name] = digestMap(value, key, 'utf8');
    else if (name === 'annotations' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      out[name] = redactAnnotations(value as Record<string, unknown>, key);
    } else out[name] = redactNode(value, key);
  }
  return out;
}

function redactAnnotations(annotations: Record<string, unknown>, key: Uint8Array): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(annotations)) {
    out[name] = name === lastAppliedAnnotation ? digestValue(key, String(value)) : value;
  }
  return out;
}

function digestMap(map: unknown, key: Uint8Array, encoding: 'base64' | 'utf8'): unknown {
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    // Not the shape Kubernetes uses; still never let it through in the clear.
    return map === null || map === undefined ? map : digestValue(key, JSON.stringify(map));
  }
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(map)) {
    if (value === null) {
      out[name] = null; // a merge patch deleting the key: no value to hide
    } else if (typeof value === 'string' && encoding === 'base64') {
      const bytes = Buffer.from(value, 'base64');
      out[name] = digestValue(key, bytes);
      bytes.fill(0);
    } else {
      out[name] = digestValue(key, typeof value === 'string' ? value : JSON.stringify(value));
    }
  }
  return out;
}
