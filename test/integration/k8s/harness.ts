/**
 * The client API over a REAL single-member replica (real WAL, store and keyring) with the default
 * policies bootstrapped, driven through app.inject(). The identity seam: header `x-user` names the
 * user and `x-groups` its comma-separated groups; no `x-user` means no verified certificate.
 */
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildClientApi, type KvBackend } from '../../../src/api/index.ts';
import { ManualClock } from '../../../src/base/index.ts';
import { loadPolicies } from '../../../src/rbac/index.ts';
import { bootstrapRegistry } from '../../../src/registry/index.ts';
import { backendOf, InProcessCluster } from '../replication/harness.ts';

export const policiesDir = fileURLToPath(new URL('../../../policies/', import.meta.url));

export interface Api {
  app: FastifyInstance;
  backend: KvBackend;
  cluster: InProcessCluster;
  clock: ManualClock;
  close(): Promise<void>;
}

export async function startApi(): Promise<Api> {
  const cluster = await InProcessCluster.start(1);
  await cluster.leader();
  const replica = cluster.replica(1);
  const backend = backendOf(replica);
  await bootstrapRegistry(backend, (await loadPolicies(policiesDir)).rbac);
  const clock = new ManualClock(Date.now());
  const app = buildClientApi({
    backend,
    clock,
    identify: (request) => {
      const user = request.headers['x-user'];
      if (typeof user !== 'string') return undefined;
      const groups = request.headers['x-groups'];
      return { user, groups: typeof groups === 'string' && groups !== '' ? groups.split(',') : [], kind: user.startsWith('system:member:') ? 'member' as const : 'client' as const };
    },
  });
  await app.ready();
  return {
    app, backend, cluster, clock,
    close: async () => {
      await app.close();
      await cluster.close();
    },
  };
}

export const admin = { 'x-user': 'admin', 'x-groups': 'system:masters' };

/** What the tests read from API objects and Status bodies (a test-side view, not the API's types). */
export interface Meta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  generateName?: string;
  finalizers?: string[];
  ownerReferences?: Record<string, unknown>[];
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  continue?: string;
}

export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  data?: Record<string, string>;
  type?: string;
  status?: string | { phase?: string };
  [field: string]: unknown;
}

export interface Body extends Obj {
  items: Obj[];
  reason?: string;
  code?: number;
  message: string;
  details: { name?: string; group?: string; kind?: string; causes: { field: string; message: string; reason?: string }[] };
  resources: { name: string; kind: string; namespaced: boolean; shortNames?: string[]; verbs: string[] }[];
  groups: { name: string }[];
  versions: string[];
  paths: Record<string, { serverRelativeURL: string; post: { parameters: { name: string }[] } }>;
  columnDefinitions: { name: string }[];
  rows: { cells: unknown[]; object: Obj }[];
}

export interface Reply {
  status: number;
  body: Body;
  headers: Record<string, unknown>;
}

/** One request as `who` (headers); a body object is sent as JSON unless contentType says otherwise. */
export async function call(app: FastifyInstance, method: InjectOptions['method'], url: string, body?: unknown, who: Record<string, string> = admin, contentType = 'application/json'): Promise<Reply> {
  const response = await app.inject({
    method, url,
    headers: { ...who, ...(body !== undefined ? { 'content-type': contentType } : {}) },
    ...(body !== undefined ? { payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) } : {}),
  });
  let parsed: Body;
  try {
    parsed = response.json<Body>();
  } catch {
    parsed = { text: response.body } as unknown as Body;
  }
  return { status: response.statusCode, body: parsed, headers: response.headers };
}

/** A hash of the whole store and its revision: equal before and after means nothing changed. */
export async function storeFingerprint(api: Api): Promise<string> {
  const { hash, revision } = await api.backend.mvcc().hash(0);
  return `${revision}:${hash}`;
}

export function secret(name: string, data: Record<string, string> = { password: 's3cret' }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Secret', metadata: { name, ...(extra.metadata ?? {}) },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'metadata')),
  };
}

export function configMap(name: string, data: Record<string, string> = { a: '1' }, labels?: Record<string, string>): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(labels ? { labels } : {}) }, data };
}

/** Request headers identifying `user` (in `groups`), as the identity seam reads them. */
export function asUser(user: string, groups: string[] = []): Record<string, string> {
  return { 'x-user': user, 'x-groups': groups.join(',') };
}

/** Binds `user` to the ClusterRole `role` cluster-wide, as the admin; the binding is named `name`. */
export async function bindClusterRole(app: FastifyInstance, name: string, role: string, user: string): Promise<void> {
  const reply = await call(app, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name }, subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  });
  if (reply.status !== 201) throw new Error(`binding ${name} was refused: ${reply.status} ${String(reply.body.message)}`);
}
