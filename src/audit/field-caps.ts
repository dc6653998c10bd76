/**
 * Caps on the fields of an audit event a caller controls (User-Agent, the request URI, user and
 * impersonated user names and groups, object fields, reasons), so one request cannot write a large record and a flood of requests cannot
 * push history out of retention cheaply (docs/operations.md, "Audit retention and floods"). Each cap is
 * a named limit in src/config/limits.ts. A value over its cap is cut at a character boundary; the
 * event's coffer.dev/truncated annotation names every cut field and its original size, so a reader
 * knows the record is shortened and by how much.
 *
 * Invariant: after capEventFields no capped field is longer than its limit, and an event whose fields
 * were all within their limits is left exactly as it was (no annotation added).
 */
import {
  auditGroupNameBytesMax, auditGroupsMax, auditObjectRefFieldBytesMax, auditReasonBytesMax, auditRequestUriBytesMax, auditSourceIpBytesMax,
  auditSourceIpsMax, auditUserAgentBytesMax, auditUserNameBytesMax,
} from '../config/index.ts';

/** The parts of an audit event (event.ts) the caps apply to. */
export interface CappedFields {
  requestURI: string;
  userAgent?: string;
  user: { username: string; groups: string[] };
  impersonatedUser?: { username: string; groups: string[] };
  sourceIPs: string[];
  objectRef?: Partial<Record<ObjectRefField, string>>;
  responseStatus?: { reason?: string; message?: string };
  annotations: Record<string, string>;
}

/** Set when a field was cut or a body dropped; the value says which and why. */
export const truncatedAnnotation = 'coffer.dev/truncated';

/** Adds `note` to the event's truncation annotation (notes are joined with "; "). */
export function noteTruncation(annotations: Record<string, string>, note: string): void {
  const before = annotations[truncatedAnnotation];
  annotations[truncatedAnnotation] = before === undefined ? note : `${before}; ${note}`;
}

const objectRefFields = ['resource', 'namespace', 'name', 'apiGroup', 'apiVersion', 'subresource'] as const;
type ObjectRefField = typeof objectRefFields[number];

/** Cuts every capped field of `event` (in place) to its limit and notes each cut. */
export function capEventFields(event: CappedFields, ownAnnotations: ReadonlySet<string>): void {
  const notes: string[] = [];
  const cap = (name: string, value: string, maxBytes: number): string => {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes <= maxBytes) return value;
    notes.push(`${name} cut from ${bytes} to ${maxBytes} bytes`);
    return cutUtf8(value, maxBytes);
  };
  event.requestURI = cap('requestURI', event.requestURI, auditRequestUriBytesMax);
  if (event.userAgent !== undefined) event.userAgent = cap('userAgent', event.userAgent, auditUserAgentBytesMax);
  const capUser = (name: string, user: { username: string; groups: string[] }) => {
    user.username = cap(`${name}.username`, user.username, auditUserNameBytesMax);
    if (user.groups.length > auditGroupsMax) {
      notes.push(`${name}.groups cut from ${user.groups.length} to ${auditGroupsMax} groups`);
      user.groups = user.groups.slice(0, auditGroupsMax);
    }
    user.groups = user.groups.map((group, i) => cap(`${name}.groups[${i}]`, group, auditGroupNameBytesMax));
  };
  capUser('user', event.user);
  if (event.impersonatedUser !== undefined) capUser('impersonatedUser', event.impersonatedUser);
  if (event.sourceIPs.length > auditSourceIpsMax) {
    notes.push(`sourceIPs cut from ${event.sourceIPs.length} to ${auditSourceIpsMax} addresses`);
    event.sourceIPs = event.sourceIPs.slice(0, auditSourceIpsMax);
  }
  event.sourceIPs = event.sourceIPs.map((ip, i) => cap(`sourceIPs[${i}]`, ip, auditSourceIpBytesMax));
  const ref = event.objectRef;
  if (ref !== undefined) {
    for (const field of objectRefFields) {
      const value = ref[field];
      if (value !== undefined) ref[field] = cap(`objectRef.${field}`, value, auditObjectRefFieldBytesMax);
    }
  }
  const status = event.responseStatus;
  if (status?.reason !== undefined) status.reason = cap('responseStatus.reason', status.reason, auditReasonBytesMax);
  if (status?.message !== undefined) status.message = cap('responseStatus.message', status.message, auditReasonBytesMax);
  for (const [key, value] of Object.entries(event.annotations)) {
    // The member's own short annotations (decision, member) are not capped; the reason and any other are.
    if (!ownAnnotations.has(key)) event.annotations[key] = cap(`annotations[${key}]`, value, auditReasonBytesMax);
  }
  if (notes.length > 0) noteTruncation(event.annotations, notes.join(', '));
}

/** The longest prefix of `text` whose UTF-8 encoding fits in `maxBytes` (never half a character). */
export function cutUtf8(text: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}
