// A watch is authorized at the gate, then its handler reads the initial list before the stream starts.
// A binding deleted in between is rechecked on every open stream — but this one is not open yet: it
// must be checked again when it starts, against the policy in force then, or it outlives the binding
// for good. The wait is made certain by holding the watch's first read of the store (wrapBackend seam).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { KvBackend } from '../../../src/api/index.ts';
import { grant, who } from './attacker.ts';
import { admin, type AuditedCluster, startAudited } from './harness.ts';

let audited: AuditedCluster;
let app: FastifyInstance;
const ns = '/api/v1/namespaces/default';
const heldPrefix = '/registry/configmaps/default/';

/** While set, the next range read under heldPrefix waits for `release`; `reached` resolves when it does. */
let hold: { reached: () => void; released: Promise<void> } | undefined;

function holdingBackend(backend: KvBackend): KvBackend {
  return new Proxy(backend, {
    get(target, prop, receiver) {
      if (prop !== 'range') return Reflect.get(target, prop, receiver) as unknown;
      return async (...args: Parameters<KvBackend['range']>) => {
        const held = hold;
        if (held !== undefined && Buffer.from(args[0]).toString('latin1').startsWith(heldPrefix)) {
          hold = undefined;
          held.reached();
          await held.released;
        }
        return target.range(...args);
      };
    },
  });
}

before(async () => {
  audited = await startAudited(1, {}, (audit) => audit, undefined, {}, holdingBackend);
  app = audited.members[0]!.app;
});
after(async () => { await audited.close(); });

test('a watch whose binding is deleted while it reads its initial list is refused when it starts, not served for ever', async () => {
  await grant(app, 'race-watcher', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch', 'get'] }], 'race');
  let release = () => {};
  const reached = new Promise<void>((resolve) => {
    hold = { reached: resolve, released: new Promise<void>((r) => { release = r; }) };
  });
  const opening = app.inject({ method: 'GET', url: `${ns}/configmaps?watch=true`, headers: who('race'), payloadAsStream: true });
  await reached; // the gate allowed the watch; its handler waits in the initial list
  const unbound = await app.inject({ method: 'DELETE', url: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/race-watcher', headers: admin });
  assert.equal(unbound.statusCode, 200, unbound.body);
  assert.equal((await app.inject({ method: 'GET', url: `${ns}/configmaps?watch=true`, headers: who('race') })).statusCode, 403, 'the policy in force refuses a new watch');
  release();
  const answer = await opening;
  if (answer.statusCode !== 403) answer.stream().destroy(); // a watch that started never ends by itself
  assert.equal(answer.statusCode, 403, 'the watch started after its binding went');
  const body = await new Promise<string>((resolve) => {
    let text = '';
    const stream = answer.stream();
    stream.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    stream.on('end', () => resolve(text));
  });
  assert.equal((JSON.parse(body) as { kind: string; reason: string }).reason, 'Forbidden');
  const events = await audited.members[0]!.events();
  const refused = events.filter((e) => e.user.username === 'race' && e.verb === 'watch' && e.responseStatus?.code === 403);
  assert.equal(refused.length, 2, 'both refusals are audited');
});
