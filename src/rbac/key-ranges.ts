/**
 * Key-range permissions for the etcd KV API (JSON gateway and gRPC): RBAC rules on the `kvkeys`
 * resource of `coffer.dev`. A rule's resourceNames are key **prefixes** (UTF-8), not exact names; a
 * rule without resourceNames covers every key. A request is allowed only when one rule with its verb
 * covers the whole requested range — a range that merely overlaps a granted prefix is refused, so a
 * wider range, a from-key read or a prefix one byte shorter cannot reach past it. Default deny.
 *
 *   get     one key: a Range of a single key, a txn compare of one key, the previous value a put returns
 *   list    a range of keys: a Range, DeleteRange or txn compare with an end, the previous values a delete returns
 *   watch   a Watch of a key or range
 *   update  Put (etcd has no create/update distinction: a put creates or replaces)
 *   delete  DeleteRange
 *
 * Keys and prefixes are compared as bytes (both held as latin1 strings, one char per byte, so string
 * order is byte order). Coffer's reserved keyspace (src/api/kv/reserved.ts) is refused before this
 * check, whatever a rule grants. The resource is cluster-scoped: only ClusterRoleBindings grant it.
 */
import { Buffer } from 'node:buffer';
import { cofferApiGroup } from './catalogue.ts';
import { type CompiledPolicy, rolesInScope } from './compile.ts';
import { ruleMatchesKind } from './compiled-rule.ts';

/** The resource of the key-range rules, in `coffer.dev`. */
export const kvKeysResource = 'kvkeys';

/** The verbs a key-range request carries (see the header). */
export type KeyRangeVerb = 'get' | 'list' | 'watch' | 'update' | 'delete';

/** A key interval as bytes in latin1 form. `end` undefined: one key; `end` null: no upper bound. */
export interface KeyRangeRequest {
  user: string;
  groups: readonly string[];
  verb: KeyRangeVerb;
  start: string;
  end: string | undefined | null;
}

export function authorizeKeyRange(policy: CompiledPolicy, request: KeyRangeRequest): boolean {
  const attributes = { verb: request.verb, apiGroup: cofferApiGroup, resource: kvKeysResource, subresource: '', name: '' };
  return rolesInScope(policy, request, undefined).some((grant) => grant.rules.some((rule) =>
    ruleMatchesKind(rule, attributes) && (rule.resourceNames === undefined || [...rule.resourceNames].some((p) => prefixCovers(latin1OfUtf8(p), request)))));
}

function prefixCovers(prefix: string, range: Pick<KeyRangeRequest, 'start' | 'end'>): boolean {
  if (!range.start.startsWith(prefix)) return false;
  if (range.end === undefined) return true;
  const bound = prefixEndOf(prefix);
  if (range.end === null) return bound === null;
  return bound === null || range.end <= bound;
}

/** The smallest byte string above every string with this prefix; null when there is none (all 0xff, or ''). */
function prefixEndOf(prefix: string): string | null {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const code = prefix.charCodeAt(i);
    if (code < 0xff) return prefix.slice(0, i) + String.fromCharCode(code + 1);
  }
  return null;
}

function latin1OfUtf8(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}
