/**
 * Coffer's Secret subresources in group coffer.dev (RBAC: `get secrets/versions`,
 * `create secrets/rotate`, `create secrets/rollback`, `create secrets/promote`, as request-info.ts
 * derives them from the path):
 *
 *   GET  /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/versions            the versions and stages, no values
 *   GET  /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/versions?version=N  version N with its data
 *   GET  /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/versions?stage=S    stage current|previous|pending with its data
 *   POST /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/rotate    {data} | {generate: [...]}, optional "stage": true
 *   POST /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/promote   makes the pending stage current (409 if none)
 *   POST /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/rollback  {version: N}
 *
 * A version or stage is read by query parameter rather than a `/versions/N` path so that the RBAC
 * subresource stays exactly `secrets/versions`. rotate, promote and rollback are ordinary updates of
 * the Secret (a new version, a MODIFIED event for watchers); rotate merges the given or generated
 * keys into the current data, rollback replaces the data with version N's. A rotate with
 * `"stage": true` changes nothing of the Secret: the keys wait as the pending stage (readable by
 * whoever may get secrets/versions, so consumers can move over first) until promote merges them in.
 * The response of rotate, promote and rollback is the Secret, with its data only if the caller may
 * also `get` it; a stage answers the pending SecretVersion, with its number and data only if the caller
 * may get secrets/versions. Generated values exist only in the store and the response. Promote and rollback
 * also need `get secrets/versions`: they make the pending stage or an older version current.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { setOwnMember } from '../../base/index.ts';
import { generatedKeysMax } from '../../config/index.ts';
import {
  checkGenerateSpec, findVersion, generateValues, type GenerateSpec, pendingData, type Registry, RegistryError, secrets, stageOf, type Json,
  type SecretVersion, type VersionedObject, type VersionHistory,
} from '../../registry/index.ts';
import type { ResourceInfo } from '../request-info.ts';
import { callerFor, forbiddenMessage, isAllowed } from './authorization.ts';
import { readAccountOf } from '../held-bytes.ts';
import type { PolicyHolder } from './policy-holder.ts';
import { presentFor } from './presentation.ts';
import { refuseOversizedMaps } from './oversized-maps.ts';
import { K8sForbiddenError } from './status.ts';
import { writeOptionsOf } from './write-options.ts';
import { auditInEntryRoute } from '../route-config.ts';

export interface SecretVersionRoutesOptions {
  registry: Registry;
  policy: PolicyHolder;
}

type Params = { namespace: string; name: string };

const stages = ['current', 'previous', 'pending'] as const;

export function registerSecretVersionRoutes(app: FastifyInstance, options: SecretVersionRoutesOptions): void {
  const { registry, policy } = options;
  const item = '/apis/coffer.dev/v1/namespaces/:namespace/secrets/:name';

  app.get(`${item}/versions`, async (request) => {
    const { namespace, name } = request.params as Params;
    const query = request.query as Record<string, unknown>;
    const { secret, history } = await registry.secretVersions(namespace, name, { linearizable: query.consistency !== 'serializable', account: readAccountOf(callerFor(request)) });
    const meta = { name, namespace, resourceVersion: String(secret.modRevision) };
    if (query.version !== undefined && query.stage !== undefined) throw new RegistryError('BadRequest', 'give at most one of "version" and "stage"');
    if (query.version === undefined && query.stage === undefined) {
      const items = history.versions.map((v) => describe(history, v));
      const pending = pendingView(history);
      return { kind: 'SecretVersionList', apiVersion: 'coffer.dev/v1', metadata: meta, items: pending ? [...items, pending.info] : items };
    }
    if (query.stage === 'pending') {
      const pending = pendingView(history);
      if (pending === undefined) throw new RegistryError('NotFound', `secrets ${JSON.stringify(name)} has nothing pending`, { name, group: '', kind: 'secrets' });
      return { kind: 'SecretVersion', apiVersion: 'coffer.dev/v1', metadata: meta, ...pending.info, data: pending.data };
    }
    const found = query.version !== undefined ? findVersion(history, name, parseVersion(query.version)) : byStage(history, name, query.stage);
    return { kind: 'SecretVersion', apiVersion: 'coffer.dev/v1', metadata: meta, ...describe(history, found), data: { ...found.data } };
  });

  app.post(`${item}/rotate`, { ...auditInEntryRoute, ...refuseOversizedMaps(secrets) }, async (request) => {
    const { namespace, name } = request.params as Params;
    const body = request.body;
    const stage = isObject(body) ? body.stage : undefined;
    if (stage !== undefined && typeof stage !== 'boolean') throw new RegistryError('BadRequest', '"stage" must be true or false');
    const updates = rotationData(body);
    if (stage === true) {
      const { secret, history } = await registry.stageSecret(namespace, name, updates, writeOptionsOf(request, policy));
      const pending = pendingView(history)!;
      // The number the promote will make counts the Secret's changes: only a reader of versions learns it.
      const mayRead = allowed(policy, request, 'coffer.dev', 'versions');
      const { version, ...unnumbered } = pending.info;
      const shownInfo = mayRead ? { version, ...unnumbered, data: pending.data } : unnumbered;
      return { kind: 'SecretVersion', apiVersion: 'coffer.dev/v1', metadata: { name, namespace, resourceVersion: String(secret.modRevision) }, ...shownInfo };
    }
    const updated = await writeData(registry, policy, request, (current) => ({ ...current, ...updates }));
    return shown(updated, request, policy);
  });

  app.post(`${item}/promote`, auditInEntryRoute, async (request) => {
    const { namespace, name } = request.params as Params;
    checkMayReadVersions(policy, request, 'a promote makes the pending stage\'s data current');
    const updated = await registry.promoteSecret(namespace, name, writeOptionsOf(request, policy));
    return shown(updated, request, policy);
  });

  app.post(`${item}/rollback`, auditInEntryRoute, async (request) => {
    const { namespace, name } = request.params as Params;
    const body = request.body;
    if (!isObject(body) || body.version === undefined) throw new RegistryError('BadRequest', 'the body must be {"version": N}');
    const version = parseVersion(body.version);
    checkMayReadVersions(policy, request, 'a rollback makes an older version\'s data current');
    const { history } = await registry.secretVersions(namespace, name);
    const target = findVersion(history, name, version);
    const updated = await writeData(registry, policy, request, () => ({ ...target.data }));
    return shown(updated, request, policy);
  });
}

/** A version as the list shows it: number, when, by whom, its stage (and `current`, kept for older clients). */
function describe(history: VersionHistory, v: SecretVersion): Json {
  const stage = stageOf(history, v.version);
  return { version: v.version, createdAt: v.createdAt, createdBy: v.createdBy, current: stage === 'current', stage };
}

/** The pending stage as a version-shaped entry, numbered as the version promote will make, and its merged data. */
function pendingView(history: VersionHistory): { info: Json; data: Record<string, string> } | undefined {
  const data = pendingData(history);
  if (history.pending === undefined || data === undefined) return undefined;
  const next = (history.versions[history.versions.length - 1]?.version ?? 0) + 1;
  return { info: { version: next, createdAt: history.pending.createdAt, createdBy: history.pending.createdBy, current: false, stage: 'pending' }, data };
}

function byStage(history: VersionHistory, name: string, stage: unknown): SecretVersion {
  if (typeof stage !== 'string' || !(stages as readonly string[]).includes(stage)) {
    throw new RegistryError('BadRequest', `stage ${JSON.stringify(String(stage).slice(0, 32))} is not one of ${stages.join(', ')}`);
  }
  const found = history.versions.find((v) => stageOf(history, v.version) === stage);
  if (found === undefined) throw new RegistryError('NotFound', `secrets ${JSON.stringify(name)} has no ${stage} version`, { name, group: '', kind: 'secrets' });
  return found;
}

/** Replaces the Secret's data with `next(current data)`: an unconditional update, retried on conflicts. */
function writeData(registry: Registry, policy: PolicyHolder, request: FastifyRequest, next: (current: Record<string, string>) => Record<string, string>): Promise<VersionedObject> {
  const { namespace, name } = request.params as Params;
  return registry.patch(secrets, namespace, name, (current) => {
    const { metadata, ...rest } = current;
    const { resourceVersion: _rv, ...meta } = metadata as Json;
    return { ...rest, metadata: meta, data: next(isObject(current.data) ? { ...(current.data as Record<string, string>) } : {}) };
  }, undefined, writeOptionsOf(request, policy));
}

function allowed(policy: PolicyHolder, request: FastifyRequest, apiGroup: string, subresource: string): boolean {
  return isAllowed(policy.policy, callerFor(request), readOf(request, apiGroup, subresource));
}

/** `get` of the Secret's `subresource` in `apiGroup`, as RBAC sees it. */
function readOf(request: FastifyRequest, apiGroup: string, subresource: string): ResourceInfo {
  const { namespace, name } = request.params as Params;
  return { isResource: true, verb: 'get', apiGroup, apiVersion: 'v1', resource: 'secrets', subresource, namespace, name };
}

/**
 * Rollback and promote make data that only `get secrets/versions` reads (an older version, the pending
 * stage) current, readable by whoever may get the Secret: they need that right too, or they would read it.
 */
function checkMayReadVersions(policy: PolicyHolder, request: FastifyRequest, why: string): void {
  const versions = readOf(request, 'coffer.dev', 'versions');
  const caller = callerFor(request);
  if (isAllowed(policy.policy, caller, versions)) return;
  throw new K8sForbiddenError(`${forbiddenMessage(caller, versions)}: ${why}`, { name: versions.name, group: 'coffer.dev', kind: 'secrets' });
}

function shown(updated: VersionedObject, request: FastifyRequest, policy: PolicyHolder): Json {
  return presentFor(secrets, updated, callerFor(request), policy);
}

/** The keys a rotate body sets: given base64 values, or values generated here. */
function rotationData(body: unknown): Record<string, string> {
  if (!isObject(body) || (body.data === undefined) === (body.generate === undefined)) {
    throw new RegistryError('BadRequest', 'the body must hold exactly one of "data" (key: base64 value) and "generate" (a list of {key, length, charset})');
  }
  if (body.data !== undefined) {
    if (!isObject(body.data) || Object.keys(body.data).length === 0) throw new RegistryError('BadRequest', '"data" must be a non-empty object of base64 strings');
    const out: Record<string, string> = {};
    // Values are checked by the Secret's own validation when written; keys and types only here.
    for (const [key, value] of Object.entries(body.data)) {
      if (typeof value !== 'string') throw new RegistryError('BadRequest', `data[${JSON.stringify(key.slice(0, 64))}] must be a base64 string`);
      // A key named __proto__ is a data key like any other, never the prototype.
      setOwnMember(out, key, value);
    }
    return out;
  }
  const specs = body.generate;
  if (!Array.isArray(specs) || specs.length === 0 || specs.length > generatedKeysMax) {
    throw new RegistryError('BadRequest', `"generate" must be a list of 1 to ${generatedKeysMax} {key, length, charset}`);
  }
  const checked: GenerateSpec[] = [];
  for (const spec of specs) {
    if (!isObject(spec) || typeof spec.key !== 'string' || spec.key === '') throw new RegistryError('BadRequest', 'each "generate" entry needs a "key" string');
    const result = checkGenerateSpec(spec.key, spec.length, spec.charset);
    if (typeof result === 'string') throw new RegistryError('BadRequest', result);
    checked.push(result);
  }
  return generateValues(checked);
}

function parseVersion(value: unknown): number {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : '';
  if (!/^[1-9]\d{0,14}$/.test(text)) throw new RegistryError('BadRequest', `version ${JSON.stringify(String(text).slice(0, 32))} is not a positive integer`);
  return Number(text);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
