/**
 * K8sClient: the Kubernetes-shaped API on a member's client port (`/api/v1/…`, `/apis/rbac…/v1/…`):
 * get, list (one page or all pages), create, update, patch, delete and watch of Namespaces, Secrets,
 * ConfigMaps and RBAC objects, over mutual TLS with several endpoints.
 *
 * Errors: an answer carrying a Kubernetes `Status` becomes a K8sApiError (its `reason` is the stable
 * name — NotFound, Forbidden, Conflict… — and `code` the HTTP status, as in the Status object);
 * failing to reach a member or to read its answer is a ClientError, as for the KV client.
 *
 * Failover follows transport.ts (send-tracker.ts holds the rule): a request moves to the next endpoint only when it was certainly never
 * sent, or when it is a read. Invariant: objects are passed through as the server returned them; this
 * client never logs, and no object field ever appears in an error message it makes itself (a
 * Status message is the server's, which names objects and fields, never values).
 */
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import type { ConnectionOptions } from 'node:tls';
import { CofferError } from '../base/index.ts';
import {
  clientConnectTimeoutMsDefault, clientRequestTimeoutMsDefault, clientResponseBytesMax, k8sListPageItems, k8sListPagesMax, k8sWatchLineBytesMax,
} from '../config/index.ts';
import { keepAliveAgent } from './agent.ts';
import { bytesInWords } from './bytes.ts';
import { httpsEndpoints, SendTracker } from './send-tracker.ts';
import { checkTlsOptions } from './tls.ts';
import { ClientError } from './errors.ts';
import { firstAnswer } from './failover.ts';

export type K8sResource = 'namespaces' | 'secrets' | 'configmaps' | 'roles' | 'clusterroles' | 'rolebindings' | 'clusterrolebindings';

interface ResourceInfo {
  /** `/api/v1` or `/apis/<group>/v1`. */
  base: string;
  namespaced: boolean;
}

const rbacBase = '/apis/rbac.authorization.k8s.io/v1';

const resourceInfo: Readonly<Record<K8sResource, ResourceInfo>> = {
  namespaces: { base: '/api/v1', namespaced: false },
  secrets: { base: '/api/v1', namespaced: true },
  configmaps: { base: '/api/v1', namespaced: true },
  roles: { base: rbacBase, namespaced: true },
  clusterroles: { base: rbacBase, namespaced: false },
  rolebindings: { base: rbacBase, namespaced: true },
  clusterrolebindings: { base: rbacBase, namespaced: false },
};

export function isNamespacedResource(resource: K8sResource): boolean {
  return resourceInfo[resource].namespaced;
}

export interface K8sObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata: K8sObjectMeta;
  [field: string]: unknown;
}

export interface K8sList {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: K8sObject[];
}

export interface K8sStatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: { field?: string; message?: string; reason?: string }[];
  [field: string]: unknown;
}

/** A Kubernetes `Status` failure answered by the server. */
export class K8sApiError extends CofferError {
  /** The Status reason: NotFound, AlreadyExists, Conflict, Invalid, Forbidden, Expired, … (stable). */
  readonly reason: string;
  /** The Status code, which is the HTTP status. */
  readonly code: number;
  readonly details: K8sStatusDetails | undefined;
  /** True for 5xx answers: the server could not say whether a write took effect. */
  readonly indeterminate: boolean;

  constructor(reason: string, code: number, message: string, details?: K8sStatusDetails) {
    super(message);
    this.reason = reason;
    this.code = code;
    this.details = details;
    this.indeterminate = code >= 500;
  }
}

export function isK8sApiError(error: unknown): error is K8sApiError {
  return error instanceof K8sApiError;
}

/** One entry of `GET .../secrets/{name}/versions` (coffer.dev): never carries the values. */
export interface SecretVersionInfo {
  version: number;
  createdAt: string;
  /** The user who wrote this version; '' when unknown (data written before versions were kept). */
  createdBy: string;
  current: boolean;
  /** 'current', 'previous', 'pending' (staged keys, numbered as promote will number them) or ''; absent from older servers. */
  stage?: string;
}

export interface SecretVersionList {
  kind: string;
  apiVersion: string;
  metadata: K8sObjectMeta;
  items: SecretVersionInfo[];
}

/** What a member answers to GET /apis/coffer.dev/v1/keys (see api/admin/keys.ts): its own keys. */
export interface MemberKeysView {
  member: string;
  kek: { source: string; description: string };
  activeDekId: number;
  deks: { id: number; createdAt: string; active: boolean; pages: number; walRecords: number; files: number }[];
  retired: { id: number; retiredAt: string }[];
  reencryption: {
    running: boolean; targetDekId: number; pagesResealed: number; pagesOnOlderDeks: number;
    pagesPerSecond?: number; secondsLeft?: number; startedAt?: string; finishedAt?: string; error?: string;
  };
}

/** A member's answer to rotate-dek or rotate-kek. */
export interface KeyRotationView {
  dekId?: number;
  kek?: { source: string; description: string };
  message: string;
}

export type K8sWatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface K8sWatchEvent {
  type: K8sWatchEventType;
  object: K8sObject;
}

/** An open watch stream. Iterating ends when the server ends the stream or close() is called. */
export interface K8sWatch extends AsyncIterable<K8sWatchEvent> {
  close(): void;
}

export interface K8sClientOptions {
  /** Base URLs, `https://host:port`; tried in order starting from the last one that answered. */
  endpoints: readonly string[];
  /** cert, key and ca (see tlsFromFiles). */
  tls: ConnectionOptions;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Sent as `?fieldManager=` on every write (POST, PUT, PATCH), as kubectl sends `kubectl-create`…; none: the server's default. */
  fieldManager?: string;
}

export interface NamespaceOption {
  /** Required for namespaced resources; for list and watch, absent means every namespace. */
  namespace?: string;
}

export interface ListOptions extends NamespaceOption {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

export interface WatchOptions extends NamespaceOption {
  /** Events after this revision; absent: every current object first as ADDED, then the changes. */
  resourceVersion?: string;
  labelSelector?: string;
  /** `metadata.name=NAME` follows one object. */
  fieldSelector?: string;
  allowBookmarks?: boolean;
}

export type PatchType = 'merge' | 'strategic' | 'json';

const patchContentType: Readonly<Record<PatchType, string>> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  contentType?: string;
  /** The request changes nothing, so it may be retried on another endpoint after it was sent. */
  idempotent: boolean;
}

const keysPath = '/apis/coffer.dev/v1/keys';

export class K8sClient {
  readonly endpoints: readonly string[];
  private readonly agent: https.Agent;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly fieldManager: string | undefined;
  /** Index of the endpoint that answered last. Invariant: < endpoints.length. */
  private preferred = 0;

  constructor(options: K8sClientOptions) {
    this.endpoints = httpsEndpoints(options.endpoints);
    checkTlsOptions(options.tls);
    this.requestTimeoutMs = options.requestTimeoutMs ?? clientRequestTimeoutMsDefault;
    this.connectTimeoutMs = options.connectTimeoutMs ?? clientConnectTimeoutMsDefault;
    this.agent = keepAliveAgent(options.tls);
    this.fieldManager = options.fieldManager;
  }

  async get(resource: K8sResource, name: string, options: NamespaceOption = {}): Promise<K8sObject> {
    return asObject(await this.call({ method: 'GET', path: itemPath(resource, options.namespace, name), idempotent: true }));
  }

  /** One page of a collection (every namespace when a namespaced resource is listed without one). */
  async list(resource: K8sResource, options: ListOptions = {}): Promise<K8sList> {
    const query = new URLSearchParams();
    if (options.labelSelector !== undefined) query.set('labelSelector', options.labelSelector);
    if (options.fieldSelector !== undefined) query.set('fieldSelector', options.fieldSelector);
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.continue !== undefined) query.set('continue', options.continue);
    const search = query.toString();
    const path = `${collectionPath(resource, options.namespace)}${search === '' ? '' : `?${search}`}`;
    return asList(await this.call({ method: 'GET', path, idempotent: true }));
  }

  /**
   * The whole collection, fetched in pages of k8sListPageItems. The pages come from one consistent
   * snapshot (the continue token pins the first page's revision), so the result is that of one list;
   * its metadata is the first page's without the continue token.
   */
  async listAll(resource: K8sResource, options: Omit<ListOptions, 'limit' | 'continue'> = {}): Promise<K8sList> {
    const first = await this.list(resource, { ...options, limit: k8sListPageItems });
    const items = [...first.items];
    let token = first.metadata.continue;
    for (let pages = 1; token !== undefined && token !== ''; pages++) {
      if (pages >= k8sListPagesMax) throw new ClientError('BAD_RESPONSE', `listing ${resource} took more than ${k8sListPagesMax} pages (the limit)`);
      const page = await this.list(resource, { ...options, limit: k8sListPageItems, continue: token });
      items.push(...page.items);
      token = page.metadata.continue;
    }
    const { continue: _dropped, ...metadata } = first.metadata;
    return { ...first, metadata, items };
  }

  async create(resource: K8sResource, body: K8sObject, options: NamespaceOption = {}): Promise<K8sObject> {
    return asObject(await this.call({ method: 'POST', path: collectionPath(resource, requireNamespace(resource, options.namespace)), body, idempotent: false }));
  }

  /** Replaces the object; a `metadata.resourceVersion` that is no longer current is a Conflict. */
  async update(resource: K8sResource, name: string, body: K8sObject, options: NamespaceOption = {}): Promise<K8sObject> {
    return asObject(await this.call({ method: 'PUT', path: itemPath(resource, options.namespace, name), body, idempotent: false }));
  }

  async patch(resource: K8sResource, name: string, patch: unknown, options: NamespaceOption & { type?: PatchType } = {}): Promise<K8sObject> {
    return asObject(await this.call({
      method: 'PATCH', path: itemPath(resource, options.namespace, name), body: patch, contentType: patchContentType[options.type ?? 'merge'], idempotent: false,
    }));
  }

  /** Deletes the object (a namespace with everything in it); with resourceVersion, only if it is still current. */
  async delete(resource: K8sResource, name: string, options: NamespaceOption & { resourceVersion?: string } = {}): Promise<void> {
    const body = options.resourceVersion === undefined ? undefined
      : { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: options.resourceVersion } };
    await this.call({ method: 'DELETE', path: itemPath(resource, options.namespace, name), ...(body ? { body } : {}), idempotent: false });
  }

  /** A Secret's versions (number, createdAt, createdBy, current), without values. */
  async secretVersions(name: string, options: NamespaceOption = {}): Promise<SecretVersionList> {
    const value = await this.call({ method: 'GET', path: `${secretSubresourcePath(options.namespace, name)}/versions`, idempotent: true });
    if (!isRecord(value) || !isRecord(value.metadata) || !Array.isArray(value.items) || !value.items.every(isVersionInfo)) {
      throw new ClientError('BAD_RESPONSE', 'the server answered something other than a list of Secret versions');
    }
    return value as unknown as SecretVersionList;
  }

  /** One version of a Secret, with its data (base64). */
  async secretVersion(name: string, version: number, options: NamespaceOption = {}): Promise<K8sObject> {
    return asObject(await this.call({ method: 'GET', path: `${secretSubresourcePath(options.namespace, name)}/versions?version=${version}`, idempotent: true }));
  }

  /** Writes a new version with the given base64 values or server-generated ones; answers the Secret. */
  async rotateSecret(name: string, body: ({ data: Record<string, string> } | { generate: { key: string; length?: number; charset?: string }[] }) & { stage?: boolean }, options: NamespaceOption = {}): Promise<K8sObject> {
    return asObject(await this.call({ method: 'POST', path: `${secretSubresourcePath(options.namespace, name)}/rotate`, body, idempotent: false }));
  }

  /** Makes the pending stage (rotate with stage: true) the current data, as a new version; answers the Secret. */
  async promoteSecret(name: string, options: NamespaceOption = {}): Promise<K8sObject> {
    return asObject(await this.call({ method: 'POST', path: `${secretSubresourcePath(options.namespace, name)}/promote`, idempotent: false }));
  }

  /** The version at a stage (current, previous, pending), with its data (base64). */
  async secretStage(name: string, stage: 'current' | 'previous' | 'pending', options: NamespaceOption = {}): Promise<K8sObject> {
    return asObject(await this.call({ method: 'GET', path: `${secretSubresourcePath(options.namespace, name)}/versions?stage=${stage}`, idempotent: true }));
  }

  /** Writes a new version holding version `version`'s data; answers the Secret. */
  async rollbackSecret(name: string, version: number, options: NamespaceOption = {}): Promise<K8sObject> {
    return asObject(await this.call({ method: 'POST', path: `${secretSubresourcePath(options.namespace, name)}/rollback`, body: { version }, idempotent: false }));
  }

  /**
   * The keys of the member answering (key status and rotation are member-local: give this client one
   * member's endpoint). Rotations are never retried: a POST that may have been sent is not sent again.
   */
  async memberKeys(): Promise<MemberKeysView> {
    return (await this.call({ method: 'GET', path: keysPath, idempotent: true })) as MemberKeysView;
  }

  async rotateDek(): Promise<KeyRotationView> {
    return (await this.call({ method: 'POST', path: `${keysPath}/rotate-dek`, body: {}, idempotent: false })) as KeyRotationView;
  }

  /** `unsealKey` is a key file's content; the caller wipes what it passed (the JSON body is a copy). */
  async rotateKek(next: { passphrase: Uint8Array } | { unsealKey: Uint8Array }): Promise<KeyRotationView> {
    const body = 'passphrase' in next ? { passphrase: Buffer.from(next.passphrase).toString('utf8') }
      : { unsealKey: Buffer.from(next.unsealKey).toString('base64') };
    return (await this.call({ method: 'POST', path: `${keysPath}/rotate-kek`, body, idempotent: false })) as KeyRotationView;
  }

  /**
   * Opens a watch; resolves once the server has accepted it (a refusal — Forbidden, Expired… — rejects
   * here). An ERROR event in the stream is thrown by the iterator as a K8sApiError.
   */
  async watch(resource: K8sResource, options: WatchOptions = {}): Promise<K8sWatch> {
    const query = new URLSearchParams({ watch: 'true' });
    if (options.resourceVersion !== undefined) query.set('resourceVersion', options.resourceVersion);
    if (options.labelSelector !== undefined) query.set('labelSelector', options.labelSelector);
    if (options.fieldSelector !== undefined) query.set('fieldSelector', options.fieldSelector);
    if (options.allowBookmarks === true) query.set('allowWatchBookmarks', 'true');
    const path = `${collectionPath(resource, options.namespace)}?${query.toString()}`;
    const { response, request } = await this.open({ method: 'GET', path, idempotent: true }, 'stream');
    if (response.statusCode !== 200) throw toError(await readJson(response, this.describe(path)), response.statusCode ?? 0, this.describe(path));
    let closed = false;
    return {
      close: () => {
        closed = true;
        request.destroy();
      },
      [Symbol.asyncIterator]: () => watchEvents(response, () => closed, this.describe(path)),
    };
  }

  /** Closes idle keep-alive connections; in-flight requests finish. */
  close(): void {
    this.agent.destroy();
  }

  private describe(path: string): string {
    return `${this.endpoints[this.preferred] ?? ''}${path.split('?')[0] ?? ''}`;
  }

  private async call(spec: RequestSpec): Promise<unknown> {
    const { response } = await this.open(spec, 'whole');
    const where = this.describe(spec.path);
    const json = await readJson(response, where);
    const status = response.statusCode ?? 0;
    if (status >= 200 && status < 300) return json;
    throw toError(json, status, where);
  }

  /**
   * Sends the request to the first endpoint that takes it and resolves with the response head. In
   * 'whole' mode the deadline covers the body too (the caller reads it at once); a 'stream' (watch)
   * has a deadline only until the response head arrives.
   */
  private async open(given: RequestSpec, mode: 'whole' | 'stream'): Promise<{ response: IncomingMessage; request: ReturnType<typeof https.request> }> {
    const spec = this.fieldManager === undefined || given.method === 'GET' || given.method === 'DELETE' ? given
      : { ...given, path: `${given.path}${given.path.includes('?') ? '&' : '?'}fieldManager=${encodeURIComponent(this.fieldManager)}` };
    const payload = spec.body === undefined ? undefined : Buffer.from(JSON.stringify(spec.body));
    const deadline = Date.now() + this.requestTimeoutMs;
    const { value, index } = await firstAnswer(this.endpoints, (endpoint) => this.once(endpoint, spec, payload, deadline, mode), {
      start: this.preferred,
      deadline,
      retryable: (error) => error.code === 'UNAVAILABLE' || (spec.idempotent && error.code === 'CONNECTION_LOST'),
      exhausted: () => new ClientError('UNAVAILABLE', `no endpoint answered ${spec.method} ${spec.path.split('?')[0] ?? ''} before the deadline`),
    });
    this.preferred = index;
    return value;
  }

  private once(endpoint: string, spec: RequestSpec, payload: Buffer | undefined, deadline: number, mode: 'whole' | 'stream')
    : Promise<{ response: IncomingMessage; request: ReturnType<typeof https.request> }> {
    return new Promise((resolve, reject) => {
      const where = `${endpoint}${spec.path.split('?')[0] ?? ''}`;
      let answered = false;
      const headers: Record<string, string | number> = { accept: 'application/json' };
      if (payload !== undefined) {
        headers['content-type'] = spec.contentType ?? 'application/json';
        headers['content-length'] = payload.length;
      }
      let answer: IncomingMessage | undefined;
      const request = https.request(`${endpoint}${spec.path}`, { method: spec.method, agent: this.agent, headers }, (response) => {
        answered = true;
        answer = response;
        tracker.stop();
        if (mode === 'stream') clearTimeout(deadlineTimer);
        else response.once('close', () => clearTimeout(deadlineTimer));
        resolve({ response, request });
      });
      const fail = (error: ClientError): void => {
        clearTimeout(deadlineTimer);
        tracker.stop();
        request.destroy(error);
        reject(error);
      };
      const tracker = new SendTracker(request, Math.min(this.connectTimeoutMs, Math.max(0, deadline - Date.now())), () =>
        fail(new ClientError('UNAVAILABLE', `${endpoint}: no TLS connection within ${this.connectTimeoutMs} ms`, { endpoint })));
      const deadlineTimer = setTimeout(() => {
        // The head came but the body did not finish in time: the reader of the body hears TIMEOUT.
        if (answer !== undefined) {
          answer.destroy(new ClientError('TIMEOUT', `${where} did not finish its answer in time`, { endpoint }));
          return;
        }
        fail(tracker.timedOut(endpoint, where));
      }, Math.max(0, deadline - Date.now()));
      request.on('error', (cause: Error & { code?: string }) => {
        if (cause instanceof ClientError) return; // our own fail() destroying the request
        if (answered) return; // reported by the response stream to whoever reads it
        fail(tracker.lost(endpoint, where, cause));
      });
      request.end(payload);
    });
  }
}

function requireNamespace(resource: K8sResource, namespace: string | undefined): string | undefined {
  if (resourceInfo[resource].namespaced && (namespace === undefined || namespace === '')) {
    throw new TypeError(`${resource} are namespaced: a namespace is required`);
  }
  return namespace;
}

function collectionPath(resource: K8sResource, namespace: string | undefined): string {
  const info = resourceInfo[resource];
  if (!info.namespaced || namespace === undefined) return `${info.base}/${resource}`;
  return `${info.base}/namespaces/${encodeURIComponent(namespace)}/${resource}`;
}

function itemPath(resource: K8sResource, namespace: string | undefined, name: string): string {
  if (name === '') throw new TypeError(`a ${resource} name is required`);
  return `${collectionPath(resource, requireNamespace(resource, namespace))}/${encodeURIComponent(name)}`;
}

function isVersionInfo(value: unknown): value is SecretVersionInfo {
  return isRecord(value) && typeof value.version === 'number' && typeof value.createdAt === 'string' && typeof value.createdBy === 'string'
    && typeof value.current === 'boolean';
}

/** Coffer's Secret subresources (versions, rotate, rollback) live in group coffer.dev. */
function secretSubresourcePath(namespace: string | undefined, name: string): string {
  if (name === '') throw new TypeError('a secrets name is required');
  return `/apis/coffer.dev/v1/namespaces/${encodeURIComponent(requireNamespace('secrets', namespace)!)}/secrets/${encodeURIComponent(name)}`;
}

/** The body of a whole (non-watch) response, parsed; at most clientResponseBytesMax. */
async function readJson(response: IncomingMessage, where: string): Promise<unknown> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > clientResponseBytesMax) {
        response.destroy();
        throw new ClientError('BAD_RESPONSE', `${where}: response larger than the ${bytesInWords(clientResponseBytesMax)} limit`);
      }
      chunks.push(chunk);
    }
  } catch (cause) {
    if (cause instanceof ClientError) throw cause;
    throw new ClientError('CONNECTION_LOST', `${where}: response cut off`, { cause });
  }
  const body = Buffer.concat(chunks).toString('utf8');
  try {
    return body === '' ? {} : JSON.parse(body);
  } catch (cause) {
    const status = response.statusCode ?? 0;
    throw new ClientError(status >= 400 && status < 500 ? 'REJECTED' : status >= 500 ? 'SERVER' : 'BAD_RESPONSE',
      `${where}: HTTP ${status}, body is not JSON`, { status, cause });
  }
}

/** A non-2xx answer: a K8sApiError when the body is a Status, otherwise a ClientError naming the status. */
function toError(json: unknown, status: number, where: string): Error {
  if (isRecord(json) && json.kind === 'Status') {
    const reason = typeof json.reason === 'string' && json.reason !== '' ? json.reason : 'Unknown';
    const code = typeof json.code === 'number' ? json.code : status;
    const message = typeof json.message === 'string' && json.message !== '' ? json.message : `${where}: HTTP ${status} ${reason}`;
    return new K8sApiError(reason, code, message, isRecord(json.details) ? json.details : undefined);
  }
  const message = isRecord(json) && typeof json.message === 'string' ? json.message : 'no error message';
  return new ClientError(status >= 400 && status < 500 ? 'REJECTED' : status >= 500 ? 'SERVER' : 'BAD_RESPONSE', `${where}: HTTP ${status}: ${message}`, { status });
}

async function* watchEvents(response: IncomingMessage, closedByCaller: () => boolean, where: string): AsyncGenerator<K8sWatchEvent> {
  let pending = '';
  // A multi-byte character may be split between chunks: the decoder holds its first bytes back.
  const decoder = new StringDecoder('utf8');
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      pending += decoder.write(chunk);
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim() !== '') yield parseEvent(line, where);
      }
      // Counted in UTF-16 units, which never exceed the line's UTF-8 bytes: the check is never stricter than the limit.
      if (pending.length > k8sWatchLineBytesMax) {
        throw new ClientError('BAD_RESPONSE', `${where}: a watch event longer than the ${bytesInWords(k8sWatchLineBytesMax)} limit`);
      }
    }
  } catch (error) {
    if (closedByCaller()) return;
    if (error instanceof ClientError || error instanceof K8sApiError) throw error;
    throw new ClientError('CONNECTION_LOST', `${where}: the watch stream broke`, { cause: error });
  } finally {
    response.destroy();
  }
  pending += decoder.end();
  if (pending.trim() !== '' && !closedByCaller()) yield parseEvent(pending, where);
}

function parseEvent(line: string, where: string): K8sWatchEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (cause) {
    throw new ClientError('BAD_RESPONSE', `${where}: a watch event is not JSON`, { cause });
  }
  if (!isRecord(value) || typeof value.type !== 'string' || !isRecord(value.object)) {
    throw new ClientError('BAD_RESPONSE', `${where}: a watch event without type and object`);
  }
  if (value.type === 'ERROR') throw toError(value.object, typeof value.object.code === 'number' ? value.object.code : 500, where);
  if (value.type !== 'ADDED' && value.type !== 'MODIFIED' && value.type !== 'DELETED' && value.type !== 'BOOKMARK') {
    throw new ClientError('BAD_RESPONSE', `${where}: unknown watch event type ${JSON.stringify(value.type.slice(0, 32))}`);
  }
  return { type: value.type, object: asObject(value.object) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asObject(value: unknown): K8sObject {
  if (!isRecord(value) || !isRecord(value.metadata)) throw new ClientError('BAD_RESPONSE', 'the server answered something other than an object with metadata');
  return value as K8sObject;
}

function asList(value: unknown): K8sList {
  if (!isRecord(value) || !Array.isArray(value.items) || !isRecord(value.metadata)) {
    throw new ClientError('BAD_RESPONSE', 'the server answered something other than a list');
  }
  return { ...value, items: value.items.map(asObject) } as K8sList;
}
