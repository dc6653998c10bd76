/**
 * The audit policy: Kubernetes `audit.k8s.io/v1` Policy semantics, loaded from YAML and compiled once;
 * evaluation is a pure function of the compiled policy and the request's attributes.
 *
 * Rules are tried in order and the first match decides the level (None, Metadata, Request,
 * RequestResponse) and the stages left out. Within a rule every field that is set must match; an
 * empty or absent list matches anything. A rule naming `resources` or `namespaces` matches only
 * resource requests, one naming `nonResourceURLs` only non-resource requests.
 *
 * One deliberate difference from Kubernetes: a request no rule matches is recorded at Metadata, not
 * dropped, because Coffer audits every request unless a rule explicitly says None.
 */
import { readFile, stat } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { auditPolicyBytesMax } from '../config/index.ts';
import { AuditPolicyError } from './errors.ts';
import { type AuditLevel, type AuditStage, auditLevels, auditStages } from './levels.ts';

export interface GroupResources {
  /** The API group; '' is the core group (secrets, configmaps, namespaces). */
  group: string;
  /** Resource names, 'resource/subresource', '*' or '*\/subresource'; empty means all of the group. */
  resources: string[];
  /** Object names; empty means any. */
  resourceNames: string[];
}

export interface AuditRule {
  level: AuditLevel;
  users: string[];
  userGroups: string[];
  verbs: string[];
  resources: GroupResources[];
  namespaces: string[];
  /** Exact paths, or prefixes ending in '*'. */
  nonResourceURLs: string[];
  omitStages: AuditStage[];
  /**
   * Coffer's extension: ConfigMap bodies this rule records are kept in the clear instead of digested.
   * An explicit opt-in (scope it with `namespaces`) for configuration that is not sensitive.
   */
  clearConfigMapValues: boolean;
}

export interface AuditPolicy {
  rules: AuditRule[];
  omitStages: AuditStage[];
}

/** What the policy looks at. `resource` is absent for a non-resource request (/healthz, /version, …). */
export interface AuditRequestAttributes {
  user: string;
  groups: readonly string[];
  verb: string;
  resource?: { group: string; resource: string; subresource?: string; namespace?: string; name?: string };
  /** The request path without its query, used for non-resource requests. */
  path: string;
  /** The authorization decision: a refused request is recorded at Metadata at least. */
  decision?: 'allow' | 'forbid';
}

export interface AuditDecisionOfPolicy {
  level: AuditLevel;
  omitStages: readonly AuditStage[];
  /** ConfigMap bodies are recorded in the clear (the matching rule opted in). */
  clearConfigMapValues: boolean;
}

/**
 * Evaluates the policy: the first matching rule's level and stages; Metadata when no rule matches.
 * A refused request is never dropped: where a rule says None (probes, say), it is still recorded at
 * Metadata, so no one can probe or knock on a path without leaving a record.
 */
export function evaluateAuditPolicy(policy: AuditPolicy, request: AuditRequestAttributes): AuditDecisionOfPolicy {
  for (const rule of policy.rules) {
    if (!ruleMatches(rule, request)) continue;
    const level = rule.level === 'None' && request.decision === 'forbid' ? 'Metadata' : rule.level;
    return { level, omitStages: [...policy.omitStages, ...rule.omitStages], clearConfigMapValues: rule.clearConfigMapValues };
  }
  return { level: 'Metadata', omitStages: policy.omitStages, clearConfigMapValues: false };
}

function ruleMatches(rule: AuditRule, request: AuditRequestAttributes): boolean {
  if (rule.users.length > 0 && !rule.users.includes(request.user)) return false;
  if (rule.userGroups.length > 0 && !request.groups.some((g) => rule.userGroups.includes(g))) return false;
  if (rule.verbs.length > 0 && !rule.verbs.includes(request.verb)) return false;
  const resourceRule = rule.resources.length > 0 || rule.namespaces.length > 0;
  const nonResourceRule = rule.nonResourceURLs.length > 0;
  if (!resourceRule && !nonResourceRule) return true;
  const target = request.resource;
  if (target === undefined) {
    return nonResourceRule && rule.nonResourceURLs.some((pattern) => pathMatches(pattern, request.path));
  }
  if (!resourceRule) return false;
  if (rule.namespaces.length > 0 && !rule.namespaces.includes(target.namespace ?? '')) return false;
  if (rule.resources.length > 0 && !rule.resources.some((gr) => groupResourceMatches(gr, target))) return false;
  return true;
}

function pathMatches(pattern: string, path: string): boolean {
  return pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : path === pattern;
}

function groupResourceMatches(gr: GroupResources, target: NonNullable<AuditRequestAttributes['resource']>): boolean {
  if (gr.group !== target.group) return false;
  if (gr.resourceNames.length > 0 && !gr.resourceNames.includes(target.name ?? '')) return false;
  if (gr.resources.length === 0) return true;
  const full = target.subresource ? `${target.resource}/${target.subresource}` : target.resource;
  return gr.resources.some((r) =>
    r === full || r === '*' || (target.subresource !== undefined && r === `*/${target.subresource}`),
  );
}

// ── Loading ──────────────────────────────────────────────────────────────────────────────────────

/** Reads and compiles a policy file (YAML). */
export async function loadAuditPolicy(file: string): Promise<AuditPolicy> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (error) {
    throw new AuditPolicyError(`cannot read audit policy ${file}: ${(error as Error).message}`);
  }
  if (size > auditPolicyBytesMax) {
    throw new AuditPolicyError(`audit policy ${file} is ${size} bytes, more than ${auditPolicyBytesMax} (auditPolicyBytesMax)`);
  }
  return parseAuditPolicy(await readFile(file, 'utf8'), file);
}

/** Parses and validates a policy document; every unknown field, level or stage is an error naming it. */
export function parseAuditPolicy(text: string, source = 'audit policy'): AuditPolicy {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (error) {
    throw new AuditPolicyError(`${source} is not valid YAML: ${(error as Error).message}`);
  }
  const top = object(doc, source, ['apiVersion', 'kind', 'metadata', 'omitStages', 'rules']);
  if (top.apiVersion !== 'audit.k8s.io/v1') throw new AuditPolicyError(`${source}: apiVersion must be audit.k8s.io/v1, got ${JSON.stringify(top.apiVersion)}`);
  if (top.kind !== 'Policy') throw new AuditPolicyError(`${source}: kind must be Policy, got ${JSON.stringify(top.kind)}`);
  if (!Array.isArray(top.rules) || top.rules.length === 0) throw new AuditPolicyError(`${source}: rules must be a non-empty list`);
  return {
    omitStages: stages(top.omitStages, `${source}: omitStages`),
    rules: top.rules.map((raw, i) => parseRule(raw, `${source}: rules[${i}]`)),
  };
}

function parseRule(raw: unknown, where: string): AuditRule {
  const r = object(raw, where, ['level', 'users', 'userGroups', 'verbs', 'resources', 'namespaces', 'nonResourceURLs', 'omitStages', 'clearConfigMapValues']);
  if (r.clearConfigMapValues !== undefined && typeof r.clearConfigMapValues !== 'boolean') throw new AuditPolicyError(`${where}.clearConfigMapValues must be true or false`);
  if (!auditLevels.includes(r.level as AuditLevel)) {
    throw new AuditPolicyError(`${where}: level ${JSON.stringify(r.level)} is not one of ${auditLevels.join(', ')}`);
  }
  const rule: AuditRule = {
    level: r.level as AuditLevel,
    users: strings(r.users, `${where}.users`),
    userGroups: strings(r.userGroups, `${where}.userGroups`),
    verbs: strings(r.verbs, `${where}.verbs`),
    resources: list(r.resources, `${where}.resources`).map((gr, i) => {
      const w = `${where}.resources[${i}]`;
      const g = object(gr, w, ['group', 'resources', 'resourceNames']);
      if (g.group !== undefined && typeof g.group !== 'string') throw new AuditPolicyError(`${w}.group must be a string`);
      return { group: g.group ?? '', resources: strings(g.resources, `${w}.resources`), resourceNames: strings(g.resourceNames, `${w}.resourceNames`) };
    }),
    namespaces: strings(r.namespaces, `${where}.namespaces`),
    nonResourceURLs: strings(r.nonResourceURLs, `${where}.nonResourceURLs`),
    omitStages: stages(r.omitStages, `${where}.omitStages`),
    clearConfigMapValues: r.clearConfigMapValues === true,
  };
  if (rule.nonResourceURLs.length > 0 && (rule.resources.length > 0 || rule.namespaces.length > 0)) {
    throw new AuditPolicyError(`${where}: nonResourceURLs cannot be combined with resources or namespaces`);
  }
  return rule;
}

function object(value: unknown, where: string, allowed: string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new AuditPolicyError(`${where} must be a mapping`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new AuditPolicyError(`${where}: unknown field ${JSON.stringify(key)} (allowed: ${allowed.join(', ')})`);
  }
  return value as Record<string, unknown>;
}

function list(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new AuditPolicyError(`${where} must be a list`);
  return value;
}

function strings(value: unknown, where: string): string[] {
  return list(value, where).map((item, i) => {
    if (typeof item !== 'string') throw new AuditPolicyError(`${where}[${i}] must be a string, got ${JSON.stringify(item)}`);
    return item;
  });
}

function stages(value: unknown, where: string): AuditStage[] {
  return strings(value, where).map((s) => {
    if (!auditStages.includes(s as AuditStage)) throw new AuditPolicyError(`${where}: stage ${JSON.stringify(s)} is not one of ${auditStages.join(', ')}`);
    return s as AuditStage;
  });
}
