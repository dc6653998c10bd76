/**
 * Coffer's Secret subresources in group coffer.dev (RBAC: `get secrets/versions`,
 * `create secrets/rotate`, `create secrets/rollback`, as request-info.ts derives them from the path):
 *
 *   GET  /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/versions            the versions, no values
 *   GET  /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/versions?version=N  version N with its data
 *   POST /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/rotate    {data} | {generate: [...]}
 *   POST /apis/coffer.dev/v1/namespaces/{ns}/secrets/{name}/rollback  {version: N}
 *
 * A version is read by query parameter rather than a `/versions/N` path so that the RBAC
 * subresource stays exactly `secrets/versions`. rotate and rollback are ordinary updates of the
 * Secret (a new version, a MODIFIED event for watchers); rotate merges the given or generated keys
 * into the current data, rollback replaces the data with version N's. Their response is the Secret,
 * with its data only if the caller may also `get` it. Generated values exist only in the stored
 * Secret and the response; buffers holding them are wiped.
 */
import { randomInt } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { generatedKeysMax, generatedValueCharsMax } from '../../config/index.ts';
import {
  findVersion, present, type Registry, RegistryError, secrets, type Json, type SecretVersion, type VersionedObject,
} from '../../registry/index.ts';
import { callerFor, isAllowed } from './authorization.ts';
import type { PolicyHolder } from './policy-holder.ts';

export interface SecretVersionRoutesOptions {
  registry: Registry;
  policy: PolicyHolder;
}

type Params = { namespace: string; name: string };

const charsets: Record<string, string> = {
  alnum: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  hex: '0123456789abcdef',
  base64: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
  // Printable ASCII without the space.
  ascii: Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).join(''),
};
const generatedLengthDefault = 32;

export function registerSecretVersionRoutes(app: FastifyInstance, options: SecretVersionRoutesOptions): void {
  const { registry, policy } = options;
  const item = '/apis/coffer.dev/v1/namespaces/:namespace/secrets/:name';

  app.get(`${item}/versions`, async (request) => {
    const { namespace, name } = request.params as Params;
    const query = request.query as Record<string, unknown>;
    const { secret, history } = await registry.secretVersions(namespace, name, { linearizable: query.consistency !== 'serializable' });
    const current = history.versions[history.versions.length - 1]?.version;
    const meta = { name, namespace, resourceVersion: String(secret.modRevision) };
    const describe = (v: SecretVersion) => ({ version: v.version, createdAt: v.createdAt, createdBy: v.createdBy, current: v.version === current });
    if (query.version === undefined) {
      return { kind: 'SecretVersionList', apiVersion: 'coffer.dev/v1', metadata: meta, items: history.versions.map(describe) };
    }
    const found = findVersion(history, name, parseVersion(query.version));
    return { kind: 'SecretVersion', apiVersion: 'coffer.dev/v1', metadata: meta, ...describe(found), data: { ...found.data } };
  });

  app.post(`${item}/rotate`, async (request) => {
    const updates = rotationData(request.body);
    const updated = await writeData(registry, request, (current) => ({ ...current, ...updates }));
    return shown(updated, request, policy);
  });

  app.post(`${item}/rollback`, async (request) => {
    const { namespace, name } = request.params as Params;
    const body = request.body;
    if (!isObject(body) || body.version === undefined) throw new RegistryError('BadRequest', 'the body must be {"version": N}');
    const version = parseVersion(body.version);
    const { history } = await registry.secretVersions(namespace, name);
    const target = findVersion(history, name, version);
    const updated = await writeData(registry, request, () => ({ ...target.data }));
    return shown(updated, request, policy);
  });
}

/** Replaces the Secret's data with `next(current data)`: an unconditional update, retried on conflicts. */
function writeData(registry: Registry, request: FastifyRequest, next: (current: Record<string, string>) => Record<string, string>): Promise<VersionedObject> {
  const { namespace, name } = request.params as Params;
  return registry.patch(secrets, namespace, name, (current) => {
    const { metadata, ...rest } = current;
    const { resourceVersion: _rv, ...meta } = metadata as Json;
    return { ...rest, metadata: meta, data: next(isObject(current.data) ? { ...(current.data as Record<string, string>) } : {}) };
  }, undefined, { actor: callerFor(request).user });
}

function shown(updated: VersionedObject, request: FastifyRequest, policy: PolicyHolder): Json {
  const { namespace, name } = request.params as Params;
  const mayGet = isAllowed(policy.policy, callerFor(request), {
    isResource: true, verb: 'get', apiGroup: '', apiVersion: 'v1', resource: 'secrets', subresource: '', namespace, name,
  });
  return present(secrets, updated, mayGet);
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
      out[key] = value;
    }
    return out;
  }
  const specs = body.generate;
  if (!Array.isArray(specs) || specs.length === 0 || specs.length > generatedKeysMax) {
    throw new RegistryError('BadRequest', `"generate" must be a list of 1 to ${generatedKeysMax} {key, length, charset}`);
  }
  const out: Record<string, string> = {};
  for (const spec of specs) {
    if (!isObject(spec) || typeof spec.key !== 'string' || spec.key === '') throw new RegistryError('BadRequest', 'each "generate" entry needs a "key" string');
    const length = spec.length === undefined ? generatedLengthDefault : spec.length;
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 1 || length > generatedValueCharsMax) {
      throw new RegistryError('BadRequest', `generate[${JSON.stringify(spec.key.slice(0, 64))}].length ${JSON.stringify(length)} must be an integer from 1 to ${generatedValueCharsMax}`);
    }
    const charsetName = spec.charset === undefined ? 'alnum' : spec.charset;
    const charset = typeof charsetName === 'string' && Object.hasOwn(charsets, charsetName) ? charsets[charsetName] : undefined;
    if (charset === undefined) {
      throw new RegistryError('BadRequest', `generate[${JSON.stringify(spec.key.slice(0, 64))}].charset ${JSON.stringify(charsetName).slice(0, 64)} is not one of ${Object.keys(charsets).join(', ')}`);
    }
    out[spec.key] = generate(length, charset);
  }
  return out;
}

/** `length` characters drawn uniformly from `charset` (randomInt rejects rather than reduces modulo), base64-encoded. */
export function generate(length: number, charset: string): string {
  const bytes = Buffer.alloc(length);
  try {
    for (let i = 0; i < length; i += 1) bytes[i] = charset.charCodeAt(randomInt(charset.length));
    return bytes.toString('base64');
  } finally {
    bytes.fill(0);
  }
}

function parseVersion(value: unknown): number {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : '';
  if (!/^[1-9]\d{0,14}$/.test(text)) throw new RegistryError('BadRequest', `version ${JSON.stringify(String(text).slice(0, 32))} is not a positive integer`);
  return Number(text);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
