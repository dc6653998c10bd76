// The real @kubernetes/client-node (1.x) against real Coffer members over mutual TLS, as a controller
// uses it: an informer (ListWatch) on a quiet collection starts and sees a later create; a streaming
// list (sendInitialEvents) ends its initial events with the bookmark; an informer keeps exactly one
// copy of every object while its member is stopped and restarted, the leader is killed, and its member,
// made leader, is killed; and a controller that writes on every reconcile settles, because a write that
// changes nothing writes nothing (same resourceVersion, no event); server-side apply with field managers,
// a conflict and force, its managedFields kept across a restart.
//
// client-node's ListWatch re-watches from its last resourceVersion when a stream ends, but stops on a
// connection error and only calls its 'error' handlers; a controller restarts it from there, as
// client-node documents. A KubeConfig names one server, so the informer reconnects to the same member.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { after, before, test } from 'node:test';
import {
  ApiException, CoreV1Api, KubeConfig, ListWatch, PatchStrategy, setHeaderOptions, Watch, type V1ConfigMap,
} from '@kubernetes/client-node';
import { Cluster } from '../../support/cluster/index.ts';
import { waitUntil } from '../../support/wait.ts';

/** Bound for an informer's start() and for one event to reach it. */
const startTimeoutMs = 10_000;
/** Bound for an informer to catch up after a member restart or a leader change (2 busy cores). */
const catchUpTimeoutMs = 60_000;
/** Delay before a controller restarts an informer that stopped on a connection error. */
const informerRetryMs = 100;
/** Bound for one write to be accepted while a leader is elected. */
const writeTimeoutMs = 30_000;

let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ size: 3 });
});

after(async () => {
  await cluster.stop();
});

/** A KubeConfig built in code: one cluster (member i's URL), the admin's certificate, the CA. */
function kubeConfig(member: number): KubeConfig {
  const base64 = (path: string): string => readFileSync(path).toString('base64');
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'coffer', server: cluster.clientUrl(member), caData: base64(cluster.certs.ca), skipTLSVerify: false }],
    users: [{ name: 'admin', certData: base64(cluster.certs.clientCert), keyData: base64(cluster.certs.clientKey) }],
    contexts: [{ name: 'admin@coffer', cluster: 'coffer', user: 'admin' }],
    currentContext: 'admin@coffer',
  });
  return config;
}

function api(member: number): CoreV1Api {
  return kubeConfig(member).makeApiClient(CoreV1Api);
}

async function createNamespace(name: string): Promise<void> {
  await api(0).createNamespace({ body: { metadata: { name } } });
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface WireEvent { type: string; name: string; resourceVersion: number }

/** client-node's Watch, recording every event line and every (re)connection it makes. */
class RecordingWatch extends Watch {
  readonly events: WireEvent[] = [];
  connects = 0;

  override watch(path: string, queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: V1ConfigMap, watchObj?: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
    this.connects += 1;
    return super.watch(path, queryParams, (phase, object: V1ConfigMap, watchObj) => {
      this.events.push({ type: phase, name: object.metadata?.name ?? '', resourceVersion: Number(object.metadata?.resourceVersion) });
      callback(phase, object, watchObj);
    }, done);
  }
}

/**
 * A ListWatch of one namespace's ConfigMaps on one member, counting its callbacks per name, restarted
 * after a connection error as a controller does.
 */
class ObservedInformer {
  readonly watch: RecordingWatch;
  readonly informer: ListWatch<V1ConfigMap>;
  readonly adds = new Map<string, number>();
  readonly deletes = new Map<string, number>();
  updates = 0;
  errors = 0;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(member: number, namespace: string) {
    const config = kubeConfig(member);
    const core = config.makeApiClient(CoreV1Api);
    this.watch = new RecordingWatch(config);
    this.informer = new ListWatch<V1ConfigMap>(`/api/v1/namespaces/${namespace}/configmaps`, this.watch,
      () => core.listNamespacedConfigMap({ namespace }), false);
    const count = (map: Map<string, number>) => (object: V1ConfigMap) => {
      const name = object.metadata?.name ?? '';
      map.set(name, (map.get(name) ?? 0) + 1);
    };
    this.informer.on('add', count(this.adds));
    this.informer.on('delete', count(this.deletes));
    this.informer.on('update', () => { this.updates += 1; });
    this.informer.on('error', () => {
      this.errors += 1;
      if (!this.stopped) this.retry = setTimeout(() => void this.informer.start(), informerRetryMs);
    });
  }

  start(): Promise<void> {
    return withTimeout(this.informer.start(), startTimeoutMs, 'informer start() to resolve');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.informer.stop();
  }

  names(): string[] {
    return this.informer.list().map((object) => object.metadata?.name ?? '').sort();
  }
}

test('an informer on a quiet collection starts, then sees a create as an add', async () => {
  await createNamespace('quiet');
  const informer = new ObservedInformer(0, 'quiet');
  try {
    const startedAt = performance.now();
    await informer.start();
    const startMs = performance.now() - startedAt;
    assert.deepEqual(informer.names(), [], 'the collection is empty');
    await api(1).createNamespacedConfigMap({ namespace: 'quiet', body: { metadata: { name: 'first' }, data: { k: 'v' } } });
    await waitUntil(() => informer.adds.get('first') === 1, startTimeoutMs, "the informer's add for the created ConfigMap");
    assert.deepEqual(informer.names(), ['first']);
    process.stdout.write(`# quiet informer started in ${Math.round(startMs)} ms; events ${JSON.stringify(informer.watch.events)}\n`);
  } finally {
    await informer.stop();
  }
});

test('a watch with sendInitialEvents on a quiet collection ends its initial events with the bookmark', async () => {
  await createNamespace('streamed');
  const events: { type: string; annotations: Record<string, string> }[] = [];
  let ended: unknown = 'open';
  const controller = await withTimeout(new Watch(kubeConfig(2)).watch('/api/v1/namespaces/streamed/configmaps',
    { sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan', allowWatchBookmarks: true },
    (type, object: V1ConfigMap) => events.push({ type, annotations: object.metadata?.annotations ?? {} }),
    (error) => { ended = error; }), startTimeoutMs, 'the watch to start');
  try {
    await waitUntil(() => events.length > 0, startTimeoutMs, 'the initial-events-end bookmark', { detail: () => `stream ended: ${String(ended)}` });
    assert.deepEqual(events, [{ type: 'BOOKMARK', annotations: { 'k8s.io/initial-events-end': 'true' } }]);
    await api(0).createNamespacedConfigMap({ namespace: 'streamed', body: { metadata: { name: 'later' } } });
    await waitUntil(() => events.length > 1, startTimeoutMs, 'the ADDED event after the bookmark');
    assert.equal(events[1]?.type, 'ADDED');
  } finally {
    controller.abort();
  }
});

test('over more than one list page (listPageBytesMax): an informer lists every object, a page with limit has a continue, a watch from resourceVersion 0 sends each once', async () => {
  await createNamespace('large');
  const names = Array.from({ length: 24 }, (_, i) => `big-${String(i).padStart(2, '0')}`);
  // 24 × 250 KB: 6 MB, more than one page of 4 MiB.
  const value = 'x'.repeat(250_000);
  for (const name of names) await api(0).createNamespacedConfigMap({ namespace: 'large', body: { metadata: { name }, data: { v: value } } });
  // ListWatch lists without limit and follows no continue: the whole list comes in one answer.
  const informer = new ObservedInformer(1, 'large');
  try {
    await informer.start();
    assert.deepEqual(informer.names(), names);
    assert.ok(names.every((n) => informer.adds.get(n) === 1));
  } finally {
    await informer.stop();
  }
  const page = await api(1).listNamespacedConfigMap({ namespace: 'large', limit: 500 });
  assert.ok(page.items.length < names.length && page.metadata?._continue !== undefined, 'a page asked with limit ends at listPageBytesMax, with a continue token');
  const rest = await api(1).listNamespacedConfigMap({ namespace: 'large', limit: 500, _continue: page.metadata._continue });
  assert.deepEqual([...page.items, ...rest.items].map((c) => c.metadata?.name).slice(0, names.length), names.slice(0, page.items.length + rest.items.length));
  const added: string[] = [];
  const controller = await withTimeout(new Watch(kubeConfig(2)).watch('/api/v1/namespaces/large/configmaps', { resourceVersion: '0' },
    (type, object: V1ConfigMap) => { if (type === 'ADDED') added.push(object.metadata?.name ?? ''); }, () => undefined), startTimeoutMs, 'the watch to start');
  try {
    await waitUntil(() => added.length >= names.length, startTimeoutMs, 'an ADDED event for every ConfigMap');
    assert.deepEqual(added, names);
  } finally {
    controller.abort();
  }
});

/** POSTs a JSON body to member i's client port as the admin; resolves with the status code. */
function post(i: number, path: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${cluster.clientUrl(i)}${path}`, { ...cluster.clientTls(), method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** Hands leadership to member `to` through the leader's transfer-leadership endpoint, asking again until all members name it. */
async function transferLeadership(to: number): Promise<void> {
  await waitUntil(async () => {
    const leader = await cluster.leader();
    if (leader === to) return true;
    assert.equal(await post(leader, '/v3/maintenance/transfer-leadership', { targetID: cluster.memberIds[to] }), 200);
    return false;
  }, catchUpTimeoutMs, `leadership to move to m${to + 1}`);
}

/** Creates ConfigMap `name` through `core`, asking again while no leader accepts it; returns its uid. */
async function createPatiently(core: CoreV1Api, namespace: string, name: string): Promise<string> {
  const deadline = Date.now() + writeTimeoutMs;
  let retried = false;
  for (;;) {
    try {
      return (await core.createNamespacedConfigMap({ namespace, body: { metadata: { name }, data: { n: name } } })).metadata?.uid ?? '';
    } catch (error) {
      // A create whose answer was lost may have been applied: a retry then finds it.
      if (retried && error instanceof ApiException && error.code === 409) return (await core.readNamespacedConfigMap({ namespace, name })).metadata?.uid ?? '';
      const transient = !(error instanceof ApiException) || error.code >= 500 || error.code === 429;
      if (!transient || Date.now() > deadline) throw error;
      retried = true;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

test('an informer keeps exactly one copy of each object across member restarts and leader changes', async () => {
  await createNamespace('restarts');
  const leader = await cluster.leader();
  const [watched, writer] = [0, 1, 2].filter((i) => i !== leader) as [number, number];
  const informer = new ObservedInformer(watched, 'restarts');
  const core = api(writer);
  const uids = new Map<string, string>();
  const batch = async (from: number, to: number): Promise<void> => {
    for (let n = from; n < to; n += 1) {
      const name = `cm-${String(n).padStart(3, '0')}`;
      uids.set(name, await createPatiently(core, 'restarts', name));
    }
  };
  const caughtUp = (count: number, what: string) => waitUntil(() => informer.informer.list().length === count, catchUpTimeoutMs, what,
    { detail: () => `cache holds ${informer.informer.list().length}, ${informer.watch.connects} connections, ${informer.errors} errors` });
  const startedAt = performance.now();
  try {
    await informer.start();
    await batch(0, 10);
    await caughtUp(10, 'the informer to see the first 10 creates');

    // The informer's member stops (SIGTERM) while 10 more are written, and starts again.
    await Promise.all([cluster.members[watched]!.stop(), batch(10, 20)]);
    await cluster.restart(watched);
    await caughtUp(20, 'the informer to resume after its member restarted');
    const connectsAfterRestart = informer.watch.connects;

    // The leader is killed while 10 more are written through a follower; a new leader is elected.
    await Promise.all([cluster.kill(leader), batch(20, 30)]);
    const newLeader = await cluster.leader();
    assert.notEqual(newLeader, leader, 'leadership moved');
    await cluster.restart(leader);
    await caughtUp(30, 'the informer to see the creates made across the leader change');

    // The informer's member becomes the leader and is killed (SIGKILL) while 10 more are written.
    await transferLeadership(watched);
    const connectsBeforeKill = informer.watch.connects;
    await Promise.all([cluster.kill(watched), batch(30, 40)]);
    const lastLeader = await cluster.leader();
    await cluster.restart(watched);
    await caughtUp(40, 'the informer to resume after its member, the leader, was killed');

    const names = [...uids.keys()].sort();
    assert.deepEqual(informer.names(), names, 'the cache holds exactly the created objects');
    for (const object of informer.informer.list()) assert.equal(object.metadata?.uid, uids.get(object.metadata?.name ?? ''), 'each cached object is the one created');
    assert.deepEqual([...informer.adds.entries()].sort(), names.map((name) => [name, 1]), 'each name was added once');
    assert.equal(informer.deletes.size, 0, 'nothing was deleted');
    const versions = informer.watch.events.filter((e) => e.type !== 'BOOKMARK').map((e) => e.resourceVersion);
    assert.deepEqual(versions, [...versions].sort((a, b) => a - b), 'events arrive in resourceVersion order');
    assert.equal(new Set(versions).size, versions.length, 'no event was delivered twice');
    assert.ok(connectsAfterRestart > 1, 'the informer reconnected after its member restarted');
    assert.ok(informer.watch.connects > connectsBeforeKill, 'the informer reconnected after its member was killed');
    process.stdout.write(`# informer on m${watched + 1}, writes through m${writer + 1}; m${watched + 1} stopped and restarted, `
      + `leader m${leader + 1} killed (then m${newLeader + 1}), m${watched + 1} made leader and killed (then m${lastLeader + 1}): `
      + `${versions.length} events, ${informer.updates} updates, ${informer.watch.connects} connections `
      + `(${connectsAfterRestart} after the first restart, ${connectsBeforeKill} before the kill), ${informer.errors} connection errors, `
      + `${Math.round(performance.now() - startedAt)} ms\n`);
  } finally {
    await informer.stop();
  }
});

test('a controller that writes on every reconcile does not retrigger itself', async () => {
  await createNamespace('controller');
  const externalChanges = 10;
  /** Past this many reconciles the controller stops and the test fails: its writes retrigger it. */
  const reconcilesMax = 4 * (externalChanges + 2);
  const informer = new ObservedInformer(0, 'controller');
  const controllerApi = api(0);
  const external = api(1);
  const reconciles: { name: string; before: string; after: string | undefined }[] = [];
  let inflight = 0;
  let failure: Error | undefined;
  // The controller: every add or update of `app` is answered by replacing it with the label `managed`
  // set, whether or not it already has it.
  const reconcile = (object: V1ConfigMap): void => {
    const name = object.metadata?.name ?? '';
    if (name !== 'app' || failure !== undefined) return;
    if (reconciles.length >= reconcilesMax) {
      failure = new Error(`${reconcilesMax} reconciles for ${externalChanges} external changes: the controller's writes retrigger it`);
      return;
    }
    const record: (typeof reconciles)[number] = { name, before: object.metadata?.resourceVersion ?? '', after: undefined };
    reconciles.push(record);
    inflight += 1;
    const body: V1ConfigMap = { ...object, metadata: { ...object.metadata, labels: { ...object.metadata?.labels, managed: 'yes' } } };
    controllerApi.replaceNamespacedConfigMap({ namespace: 'controller', name, body })
      .then((written) => { record.after = written.metadata?.resourceVersion; })
      .catch((error: unknown) => { failure = error instanceof Error ? error : new Error(String(error)); })
      .finally(() => { inflight -= 1; });
  };
  informer.informer.on('add', reconcile);
  informer.informer.on('update', reconcile);
  const cachedVersion = (): number => Number(informer.informer.get('app', 'controller')?.metadata?.resourceVersion ?? 0);
  // Settled: the informer holds `version` or later, no reconcile is writing, and the last one wrote nothing new.
  // A failed write or a runaway loop ends the wait at once.
  const settled = (version: number, what: string) => waitUntil(() => {
    if (failure !== undefined) throw failure;
    return inflight === 0 && cachedVersion() >= version && reconciles.at(-1)?.after === String(cachedVersion());
  }, startTimeoutMs, what, { detail: () => `${reconciles.length} reconciles, last ${JSON.stringify(reconciles.at(-1))}` });
  try {
    await informer.start();
    const created = await external.createNamespacedConfigMap({ namespace: 'controller', body: { metadata: { name: 'app' }, data: { value: '0' } } });
    await settled(Number(created.metadata?.resourceVersion), 'the controller to settle after the create');
    for (let i = 1; i <= externalChanges; i += 1) {
      const patched = await external.patchNamespacedConfigMap({ namespace: 'controller', name: 'app', body: { data: { value: String(i) } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      await settled(Number(patched.metadata?.resourceVersion), `the controller to settle after external change ${i}`);
    }
    // Every event before this create reaches the informer before its add does.
    await external.createNamespacedConfigMap({ namespace: 'controller', body: { metadata: { name: 'marker' } } });
    await waitUntil(() => informer.adds.get('marker') === 1, startTimeoutMs, 'the marker to reach the informer');

    assert.equal(failure, undefined);
    const changed = reconciles.filter((r) => r.after !== r.before);
    assert.equal(reconciles.length, externalChanges + 2, 'one reconcile per external change, plus the create and the label the first reconcile set');
    assert.equal(changed.length, 1, 'only the first reconcile changed the object; the others wrote nothing');
    assert.equal(informer.informer.get('app', 'controller')?.data?.['value'], String(externalChanges));
    assert.equal(informer.informer.get('app', 'controller')?.metadata?.labels?.['managed'], 'yes');
    const appEvents = informer.watch.events.filter((e) => e.name === 'app');
    assert.equal(appEvents.length, externalChanges + 2, 'no event for the writes that changed nothing');
    process.stdout.write(`# controller: ${externalChanges} external changes, ${reconciles.length} reconciles, ${changed.length} that changed the object, ${appEvents.length} events\n`);
  } finally {
    await informer.stop();
  }
});

test('server-side apply from client-node: a controller owns what it applies, a conflict names the other manager, force takes over, managedFields survive a restart', async () => {
  await createNamespace('applied');
  const sse = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
  const config = (data: Record<string, string>): V1ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'applied' }, data });
  await api(1).createNamespacedConfigMap({ namespace: 'applied', body: { metadata: { name: 'cfg' }, data: { owned: 'by-creator' } }, fieldManager: 'creator' });
  const applied = await api(0).patchNamespacedConfigMap({ namespace: 'applied', name: 'cfg', body: config({ mine: '1' }), fieldManager: 'controller' }, sse);
  assert.deepEqual(applied.data, { owned: 'by-creator', mine: '1' });
  assert.deepEqual(applied.metadata?.managedFields?.map((e) => [e.manager, e.operation]), [['creator', 'Update'], ['controller', 'Apply']]);
  await assert.rejects(
    api(0).patchNamespacedConfigMap({ namespace: 'applied', name: 'cfg', body: config({ mine: '1', owned: 'by-controller' }), fieldManager: 'controller' }, sse),
    (error: unknown) => {
      assert.ok(error instanceof ApiException && error.code === 409, String(error));
      const body: unknown = typeof error.body === 'string' ? JSON.parse(error.body) : error.body;
      assert.equal((body as { message?: string }).message, 'Apply failed with 1 conflict: conflict with "creator" using v1: .data.owned');
      return true;
    },
  );
  const forced = await api(0).patchNamespacedConfigMap({ namespace: 'applied', name: 'cfg', body: config({ mine: '1', owned: 'by-controller' }), fieldManager: 'controller', force: true }, sse);
  assert.equal(forced.data?.['owned'], 'by-controller');
  assert.deepEqual(forced.metadata?.managedFields?.map((e): unknown[] => [e.manager, e.fieldsV1 as unknown]), [['creator', { 'f:data': {} }], ['controller', { 'f:data': { 'f:mine': {}, 'f:owned': {} } }]]);
  // Applying the same configuration again writes nothing.
  const again = await api(0).patchNamespacedConfigMap({ namespace: 'applied', name: 'cfg', body: config({ mine: '1', owned: 'by-controller' }), fieldManager: 'controller' }, sse);
  assert.equal(again.metadata?.resourceVersion, forced.metadata?.resourceVersion);
  await cluster.restart(0);
  let read: V1ConfigMap | undefined;
  await waitUntil(async () => {
    read = await api(0).readNamespacedConfigMap({ namespace: 'applied', name: 'cfg' }).catch(() => undefined);
    return read !== undefined;
  }, catchUpTimeoutMs, 'member 0 to serve again after its restart');
  assert.deepEqual(read?.metadata?.managedFields, forced.metadata?.managedFields);
});
