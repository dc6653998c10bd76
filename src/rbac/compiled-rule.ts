/**
 * One PolicyRule compiled into sets, and the Kubernetes matching rules over them:
 * - verbs, apiGroups: `*` or an exact value;
 * - resources: `*`, the exact `resource` or `resource/subresource`, or `*` before `/subresource`;
 *   a rule for `secrets` does not match `secrets/versions`;
 * - resourceNames: absent matches any request; present matches only a request naming one of them
 *   (so never a list, watch, create or deletecollection without a name);
 * - nonResourceURLs: `*`, an exact path, or a prefix given as `prefix*`.
 * A rule is either a resource rule or a non-resource rule; each matches only its own kind of request.
 */
import type { PolicyRule } from './model.ts';
import { wildcard } from './model.ts';

interface ValueSet {
  readonly any: boolean;
  readonly values: ReadonlySet<string>;
}

export interface CompiledRule {
  readonly verbs: ValueSet;
  readonly apiGroups: ValueSet;
  readonly resources: ValueSet;
  /** Undefined: any name. */
  readonly resourceNames: ReadonlySet<string> | undefined;
  /** Undefined for a resource rule. */
  readonly nonResource: { readonly any: boolean; readonly exact: ReadonlySet<string>; readonly prefixes: readonly string[] } | undefined;
}

export interface ResourceAttributes {
  verb: string;
  apiGroup: string;
  resource: string;
  /** '' when the request is for the resource itself. */
  subresource: string;
  /** '' when the request names no object. */
  name: string;
}

export function compileRule(rule: PolicyRule): CompiledRule {
  const urls = rule.nonResourceURLs ?? [];
  return {
    verbs: valueSet(rule.verbs),
    apiGroups: valueSet(rule.apiGroups ?? []),
    resources: valueSet(rule.resources ?? []),
    resourceNames: rule.resourceNames !== undefined && rule.resourceNames.length > 0 ? new Set(rule.resourceNames) : undefined,
    nonResource: urls.length === 0 ? undefined : {
      any: urls.includes(wildcard),
      exact: new Set(urls.filter((u) => !u.endsWith(wildcard))),
      prefixes: urls.filter((u) => u.endsWith(wildcard) && u !== wildcard).map((u) => u.slice(0, -1)),
    },
  };
}

export function ruleMatchesResource(rule: CompiledRule, request: ResourceAttributes): boolean {
  if (!ruleMatchesKind(rule, request)) return false;
  return rule.resourceNames === undefined || (request.name !== '' && rule.resourceNames.has(request.name));
}

/** Verb, group and resource match; resourceNames left to the caller (key-ranges.ts reads them as prefixes). */
export function ruleMatchesKind(rule: CompiledRule, request: ResourceAttributes): boolean {
  if (rule.nonResource !== undefined) return false;
  if (!has(rule.verbs, request.verb) || !has(rule.apiGroups, request.apiGroup)) return false;
  return resourceMatches(rule.resources, request.resource, request.subresource);
}

export function ruleMatchesNonResource(rule: CompiledRule, verb: string, path: string): boolean {
  const urls = rule.nonResource;
  if (urls === undefined || !has(rule.verbs, verb)) return false;
  return urls.any || urls.exact.has(path) || urls.prefixes.some((prefix) => path.startsWith(prefix));
}

function resourceMatches(resources: ValueSet, resource: string, subresource: string): boolean {
  if (resources.any) return true;
  if (subresource === '') return resources.values.has(resource);
  return resources.values.has(`${resource}/${subresource}`) || resources.values.has(`${wildcard}/${subresource}`);
}

function valueSet(values: readonly string[]): ValueSet {
  return { any: values.includes(wildcard), values: new Set(values) };
}

function has(set: ValueSet, value: string): boolean {
  return set.any || set.values.has(value);
}
