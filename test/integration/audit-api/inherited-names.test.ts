// Names a plain object inherits (`constructor`, `toString`, `__proto__`, `hasOwnProperty`, `valueOf`)
// sent from outside, through every route of the route table: as each path parameter, as query
// parameter names and as the values of the parameters the API reads, as body field names and values
// (kind, apiVersion, metadata, data keys, labels, RBAC rules, subjects and roleRef, etcd gateway
// fields), and in the headers the API reads (impersonation, Accept). A lookup such as `table[name]` or
// `name in table` on a plain object finds an inherited member for these names: the request must still
// get its clean refusal. For each request, sent by the administrator and by a user with partial rights:
// never a 5xx; an error is a well-formed Kubernetes `Status` (or etcd gateway error, or gRPC status);
// the user never gets a 2xx on a Secret route, where it may only get the Secret `other`.
// Deterministic: every route × place × name is sent, the query values by rotation (see `queryCases`).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { type ApiRoute, routeTable } from '../../../src/api/index.ts';
import { grpcPathPrefix } from '../../../src/api/grpc/plugin.ts';
import { ManualClock } from '../../../src/base/index.ts';
import { b64, exchange, grant, who } from './attacker.ts';
import { admin, type AuditedCluster, startAudited } from './harness.ts';

const names = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'] as const;
const rbacGroup = 'rbac.authorization.k8s.io';
/** The parameters the API reads from a query, each given the names as values. */
const knownParams = ['labelSelector', 'fieldSelector', 'dryRun', 'fieldValidation', 'fieldManager', 'watch', 'stage', 'propagationPolicy', 'resourceVersion', 'limit', 'continue', 'version', 'force', 'pretty'];
/** A few spellings around a name a selector or a list would carry it in. */
const valueForms = (name: string, param: string): string[] => param === 'fieldSelector'
  ? [`metadata.name=${name}`, `metadata.namespace=${name}`, `${name}=x`, name, `type=${name}`]
  : param === 'labelSelector' ? [name, `${name}=x`, `a=${name}`, `${name} in (x)`, `!${name}`] : [name];

let audited: AuditedCluster;
let app: FastifyInstance;
const clock = new ManualClock(Date.now());
const partial = who('partial-user');
const identities: Array<[string, Record<string, string>]> = [['admin', admin], ['partial', partial]];

before(async () => {
  audited = await startAudited(1, {}, (audit) => audit, clock);
  app = audited.members[0]!.app;
  // The partial user: get only the Secret `other`, everything on ConfigMaps in default, read roles.
  await grant(app, 'inherited-get-other', [
    { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['other'] },
    { apiGroups: [rbacGroup], resources: ['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'], verbs: ['get', 'list'] },
    { nonResourceURLs: ['/v3/*', `${grpcPathPrefix}*`], verbs: ['post'] },
  ], 'partial-user');
  const role = await app.inject({
    method: 'POST', url: `/apis/${rbacGroup}/v1/namespaces/default/roles`, headers: admin,
    payload: { metadata: { name: 'inherited-configmaps' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['*'] }] },
  });
  assert.equal(role.statusCode, 201, role.body);
  const binding = await app.inject({
    method: 'POST', url: `/apis/${rbacGroup}/v1/namespaces/default/rolebindings`, headers: admin,
    payload: { metadata: { name: 'inherited-configmaps' }, subjects: [{ kind: 'User', name: 'partial-user', apiGroup: rbacGroup }], roleRef: { apiGroup: rbacGroup, kind: 'Role', name: 'inherited-configmaps' } },
  });
  assert.equal(binding.statusCode, 201, binding.body);
  for (const name of ['db', 'other']) {
    const created = await app.inject({ method: 'POST', url: '/api/v1/namespaces/default/secrets', headers: admin, payload: { metadata: { name }, data: { password: b64(`${name}-value`) } } });
    assert.equal(created.statusCode, 201, created.body);
  }
});
after(async () => { await audited.close(); });

/** `{"<name>": value}` with `name` an own member even when it is `__proto__` (JSON.parse makes own members). */
const member = (name: string, value: unknown): Record<string, unknown> => JSON.parse(`{${JSON.stringify(name)}:${JSON.stringify(value)}}`) as Record<string, unknown>;

/** A route's parameters filled with objects that exist, except `param`, which gets `name`. */
function fill(url: string, param?: string, name?: string): string {
  const existing = url.includes('/secrets/') ? 'db' : url.includes('/namespaces/:name') ? 'default' : 'inherited-configmaps';
  return url.split('/').map((part) => {
    if (!part.startsWith(':')) return part;
    if (part === param) return encodeURIComponent(name!);
    return part === ':namespace' ? 'default' : existing;
  }).join('/');
}

const kindOf = (url: string): { apiVersion: string; kind: string } => url.includes('/secrets') ? { apiVersion: 'v1', kind: 'Secret' }
  : url.includes('/configmaps') ? { apiVersion: 'v1', kind: 'ConfigMap' } : url.includes('/namespaces') && url.startsWith('/api/') ? { apiVersion: 'v1', kind: 'Namespace' }
    : url.includes('clusterrolebindings') ? { apiVersion: `${rbacGroup}/v1`, kind: 'ClusterRoleBinding' } : url.includes('rolebindings') ? { apiVersion: `${rbacGroup}/v1`, kind: 'RoleBinding' }
      : url.includes('clusterroles') ? { apiVersion: `${rbacGroup}/v1`, kind: 'ClusterRole' } : url.includes('roles') ? { apiVersion: `${rbacGroup}/v1`, kind: 'Role' }
        : url.includes('selfsubjectaccessreviews') ? { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview' }
          : url.includes('selfsubjectrulesreviews') ? { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview' }
            : url.includes('selfsubjectreviews') ? { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } : { apiVersion: 'v1', kind: 'Secret' };

/** Bodies for a write route carrying `name` in field names and values: each a JSON text. */
function bodiesFor(route: ApiRoute, path: string, name: string): unknown[] {
  const { url } = route;
  const objectName = path.split('/').pop()!;
  const typed = kindOf(url);
  if (url.startsWith('/v3/')) {
    const key = b64(name);
    return [
      member(name, name),
      { key, range_end: key, sort_order: name, sort_target: name, serializable: name },
      { key, value: key, lease: name, prev_kv: name },
      { compare: [{ key, target: name, result: name, value: key }], success: [member(name, { key })], failure: [{ request_range: member(name, key) }] },
      { compare: [member(name, name)], success: [{ [name === '__proto__' ? 'request_put' : name]: { key, value: key } }] },
      { create_request: { key, range_end: key, filters: [name] }, cancel_request: member(name, 1) },
      { ID: name, TTL: name, revision: name, targetID: name, action: name, alarm: name, memberID: name, peerURLs: [name], keys: name },
    ];
  }
  if (url.endsWith('/rotate')) return [{ data: member(name, b64('x')) }, { generate: [name] }, member(name, {}), { stage: name, data: { password: b64('x') } }];
  if (url.endsWith('/promote') || url.endsWith('/rollback')) return [{ version: name }, member(name, 1), { stage: name }];
  if (url.includes('selfsubject')) {
    return [
      { ...typed, spec: { resourceAttributes: { namespace: name, verb: name, group: name, resource: name, subresource: name, name } } },
      { ...typed, spec: { resourceAttributes: { namespace: 'default', verb: 'get', resource: 'secrets', name } } },
      { ...typed, spec: { nonResourceAttributes: { path: name, verb: name } } },
      { ...typed, spec: { namespace: name } },
      { ...typed, spec: member(name, 'x') },
      { apiVersion: name, kind: name, spec: {} },
    ];
  }
  const meta = (extra: Record<string, unknown> = {}) => ({ name: objectName.startsWith(':') ? 'inherited-new' : objectName, ...extra });
  const bodies: unknown[] = [
    { apiVersion: name, kind: typed.kind, metadata: meta() },
    { apiVersion: typed.apiVersion, kind: name, metadata: meta() },
    { ...typed, metadata: { name } },
    { ...typed, metadata: meta({ namespace: name }) },
    { ...typed, metadata: meta({ labels: member(name, name), annotations: member(name, name) }) },
    { ...typed, metadata: meta({ finalizers: [name], ownerReferences: [{ apiVersion: name, kind: name, name, uid: name }] }) },
    { ...typed, metadata: meta(member(name, name)) },
    { ...member(name, name), ...typed, metadata: meta() },
  ];
  if (typed.kind === 'Secret') bodies.push({ ...typed, metadata: meta(), data: member(name, b64('v')), stringData: member(name, 'v'), type: name });
  if (typed.kind === 'ConfigMap') bodies.push({ ...typed, metadata: meta(), data: member(name, 'v'), binaryData: member(name, b64('v')) });
  if (typed.kind.endsWith('Role')) {
    bodies.push({ ...typed, metadata: meta(), rules: [{ apiGroups: [name], resources: [name], verbs: [name], resourceNames: [name] }] });
    bodies.push({ ...typed, metadata: meta(), rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], ...member(name, ['x']) }] });
    bodies.push({ ...typed, metadata: meta(), rules: [{ nonResourceURLs: [name], verbs: [name] }] });
  }
  if (typed.kind.endsWith('Binding')) {
    const roleKind = typed.kind === 'RoleBinding' ? 'Role' : 'ClusterRole';
    bodies.push({ ...typed, metadata: meta(), subjects: [{ kind: 'User', name: 'x', apiGroup: rbacGroup }], roleRef: { apiGroup: rbacGroup, kind: roleKind, name } });
    bodies.push({ ...typed, metadata: meta(), subjects: [{ kind: 'User', name: 'x', apiGroup: rbacGroup }], roleRef: { apiGroup: name, kind: name, name: 'x' } });
    bodies.push({ ...typed, metadata: meta(), subjects: [{ kind: name, name, apiGroup: name, namespace: name }], roleRef: { apiGroup: rbacGroup, kind: roleKind, name: 'x' } });
    bodies.push({ ...typed, metadata: meta(), subjects: [{ kind: 'ServiceAccount', name, namespace: name }], roleRef: { apiGroup: rbacGroup, kind: roleKind, name: 'x' } });
  }
  if (route.method === 'PATCH') bodies.push([{ op: name, path: `/${name}`, value: name }, { op: 'add', path: `/metadata/labels/${name}`, value: 'x' }, { op: 'test', path: `/${name}/${name}`, value: 1 }]);
  if (route.method === 'DELETE') bodies.push({ kind: 'DeleteOptions', apiVersion: 'v1', dryRun: [name], propagationPolicy: name, preconditions: member(name, name) }, { kind: name, apiVersion: name });
  return bodies;
}

const contentTypeOf = (body: unknown, method: string): string => Array.isArray(body) ? 'application/json-patch+json' : method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';

interface Case { method: string; url: string; route: ApiRoute; headers?: Record<string, string>; body?: unknown; contentType?: string; where: string }

/** Path parameters: each one in turn given each name, the others filled with objects that exist. */
function pathCases(route: ApiRoute): Case[] {
  const params = route.url.split('/').filter((part) => part.startsWith(':'));
  return params.flatMap((param) => names.map((name) => ({ method: route.method, url: fill(route.url, param, name), route, where: `path ${param}` })));
}

/**
 * Query parameters: every name as a parameter's name (all together, and one alone), and the known
 * parameters with the names as values. The names and a selector's spellings rotate across routes and
 * parameters (deterministically), so each (parameter, name, spelling) is sent on many routes; a HEAD
 * route is its GET's twin and gets its path cases only.
 */
function queryCases(route: ApiRoute, index: number): Case[] {
  if (route.method === 'HEAD') return [];
  const path = fill(route.url);
  const alone = names[index % names.length]!;
  const out: Case[] = [
    { method: route.method, url: `${path}?${names.map((n) => `${encodeURIComponent(n)}=${encodeURIComponent(n)}`).join('&')}`, route, where: 'query names' },
    { method: route.method, url: `${path}?${encodeURIComponent(alone)}=1`, route, where: 'query name' },
  ];
  knownParams.forEach((param, p) => {
    const name = names[(index + p) % names.length]!;
    const forms = valueForms(name, param);
    for (const form of new Set([forms[index % forms.length]!, forms[(index + 1) % forms.length]!])) {
      out.push({ method: route.method, url: `${path}?${param}=${encodeURIComponent(form)}`, route, where: `query ${param}` });
    }
  });
  return out;
}

/** Headers the API reads, the name rotating across routes: impersonation (user, group, extra) and Accept's parameters. */
function headerCases(route: ApiRoute, index: number): Case[] {
  if (route.method === 'HEAD') return [];
  const path = fill(route.url);
  const name = names[index % names.length]!;
  const headerSets: Array<Record<string, string>> = [
    { 'impersonate-user': name }, { 'impersonate-group': name, 'impersonate-user': 'x' }, { [`impersonate-extra-${name.toLowerCase()}`]: name, 'impersonate-user': 'x' },
    { accept: `application/json;as=${name};g=${name};v=${name}` }, { accept: name }, { 'content-type': `application/${name}` },
  ];
  return headerSets.map((headers) => ({ method: route.method, url: path, route, headers, where: `header ${Object.keys(headers)[0]}` }));
}

/** Bodies of writes: the names as field names and values. */
function bodyCases(route: ApiRoute): Case[] {
  if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(route.method) || route.url.startsWith(grpcPathPrefix)) return [];
  const path = fill(route.url);
  return names.flatMap((name) => bodiesFor(route, path, name).map((body) => ({ method: route.method, url: path, route, body, contentType: contentTypeOf(body, route.method), where: 'body' })));
}

/** A collection delete by the administrator only ever reaches objects made here (the names as selectors match nothing else). */
function guarded(c: Case, identity: string): string {
  if (identity !== 'admin' || c.method !== 'DELETE' || c.route.url.endsWith(':name')) return c.url;
  if (/[?&](labelSelector|fieldSelector)=/.test(c.url)) return `${c.url}&labelSelector=inherited-none`;
  return `${c.url}${c.url.includes('?') ? '&' : '?'}labelSelector=inherited-none`;
}

function assertWellFormed(c: Case, status: number, text: string, contentType: string | undefined, what: string): void {
  if (status < 400 || c.method === 'HEAD' || c.route.url.startsWith(grpcPathPrefix) || contentType === 'application/grpc') return;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    assert.fail(`${what}: ${status} with a body that is not JSON: ${text.slice(0, 300)}`);
  }
  // Every answer under /v3, a URL refused before routing included (request.ts, refusedPathFor), is in the gateway's shape.
  if (c.route.url.startsWith('/v3/')) {
    assert.equal(typeof body.error, 'string', `${what}: not an etcd gateway error: ${text.slice(0, 300)}`);
    assert.equal(typeof body.code, 'number', `${what}: not an etcd gateway error: ${text.slice(0, 300)}`);
  } else {
    assert.equal(body.kind, 'Status', `${what}: not a Status: ${text.slice(0, 300)}`);
    assert.equal(body.apiVersion, 'v1', `${what}: ${text.slice(0, 300)}`);
    assert.equal(body.status, 'Failure', `${what}: ${text.slice(0, 300)}`);
    assert.equal(body.code, status, `${what}: the Status's code is not the answer's: ${text.slice(0, 300)}`);
    assert.equal(typeof body.message, 'string', `${what}: ${text.slice(0, 300)}`);
  }
}

test('names a plain object inherits, in every place of every route: no 5xx, a well-formed refusal, no Secret for a caller without rights', async () => {
  const started = Date.now();
  const only = process.env.COFFER_INHERITED_ROUTES;
  // gRPC's streaming calls are left out: a stream without messages stays open (they read no query either).
  const streams = [`${grpcPathPrefix}Watch/Watch`, `${grpcPathPrefix}Lease/LeaseKeepAlive`];
  const routes = routeTable(app).filter((route) => route.url !== '/metrics' && !streams.includes(route.url) && (only === undefined || new RegExp(only).test(route.url)));
  assert.ok(only !== undefined || routes.length > 80, `the route table has ${routes.length} routes`);
  const cases = routes.flatMap((route, index) => [...pathCases(route), ...queryCases(route, index), ...headerCases(route, index), ...bodyCases(route)]);
  const counts = new Map<string, number>();
  const failures: string[] = [];
  for (const c of cases) {
    for (const [identity, headers] of identities) {
      const url = guarded(c, identity);
      const what = `${identity} ${c.method} ${url} (${c.where})${c.body !== undefined ? ` ${JSON.stringify(c.body).slice(0, 200)}` : ''}${c.headers ? ` ${JSON.stringify(c.headers)}` : ''}`;
      // A gRPC call is one by its content type (and its streams end with the request's): sent as a client would, without a message.
      const grpcCall = c.route.url.startsWith(grpcPathPrefix) ? { 'content-type': 'application/grpc' } : {};
      const requestHeaders: Record<string, string> = { ...headers, ...grpcCall, ...(c.body !== undefined ? { 'content-type': c.contentType! } : {}), ...c.headers };
      const streaming = c.method === 'GET' || c.route.url === '/v3/watch' || c.route.url === `${grpcPathPrefix}Watch/Watch`;
      if (process.env.COFFER_INHERITED_TRACE !== undefined) process.stderr.write(`${Date.now() - started} ${what}\n`);
      let answer;
      try {
        const sent = exchange(app, clock, { method: c.method, url, headers: requestHeaders, streaming, ...(c.body !== undefined ? { payload: JSON.stringify(c.body) } : {}) });
        let timer: NodeJS.Timeout | undefined;
        answer = await Promise.race([sent, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error('no whole answer within 5 s')), 5000); })]);
        clearTimeout(timer);
      } catch (error) {
        failures.push(`${what}: threw ${(error as Error).stack}`);
        continue;
      }
      counts.set(c.where.split(' ')[0]!, (counts.get(c.where.split(' ')[0]!) ?? 0) + 1);
      try {
        assert.ok(answer.status < 500, `${what}: ${answer.status} ${answer.text.slice(0, 300)}`);
        assertWellFormed(c, answer.status, answer.text, undefined, what);
        // The partial user, and whoever the administrator impersonates here (a name without bindings), may not reach Secret db.
        const rightless = identity === 'partial' || Object.keys(c.headers ?? {}).some((h) => h.startsWith('impersonate-'));
        if (rightless && c.route.url.includes('/secrets') && answer.status < 300) {
          assert.fail(`${what}: a caller without rights on the Secret got ${answer.status}: ${answer.text.slice(0, 300)}`);
        }
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`# ${routes.length} routes, ${total} requests (${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}) in ${Date.now() - started} ms\n`);
  assert.deepEqual(failures.slice(0, 40), [], `${failures.length} failures`);
});
