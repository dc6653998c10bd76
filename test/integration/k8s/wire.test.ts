// The pure wire helpers of the Kubernetes API: protobuf request bodies (as kubectl's typed commands
// send them) decoded to the JSON object, and the three PATCH types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyPatch } from '../../../src/api/k8s/patch.ts';
import { decodeProtobufObject } from '../../../src/api/k8s/protobuf.ts';
import { isRegistryError } from '../../../src/registry/index.ts';

// A minimal protobuf writer for the test: length-delimited fields and varints.
const varint = (n: number): number[] => { const out: number[] = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n); return out; };
const bytesField = (no: number, value: Uint8Array | string): number[] => {
  const data = typeof value === 'string' ? [...Buffer.from(value)] : [...value];
  return [...varint((no << 3) | 2), ...varint(data.length), ...data];
};
const boolField = (no: number, value: boolean): number[] => [...varint(no << 3), value ? 1 : 0];
const entry = (no: number, key: string, value: Uint8Array | string) => bytesField(no, Uint8Array.from([...bytesField(1, key), ...bytesField(2, value)]));
const envelope = (apiVersion: string, kind: string, raw: number[]) => Uint8Array.from([0x6b, 0x38, 0x73, 0x00,
  ...bytesField(1, Uint8Array.from([...bytesField(1, apiVersion), ...bytesField(2, kind)])), ...bytesField(2, Uint8Array.from(raw))]);

test('a protobuf Secret decodes to the JSON kubectl would have sent', () => {
  const meta = Uint8Array.from([...bytesField(1, 'db'), ...bytesField(3, 'default'), ...entry(11, 'app', 'web')]);
  const body = envelope('v1', 'Secret', [...bytesField(1, meta), ...entry(2, 'password', Uint8Array.from([0, 255, 1])), ...bytesField(3, 'Opaque'), ...entry(4, 'user', 'admin'), ...boolField(5, true)]);
  assert.deepEqual(decodeProtobufObject(body), {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default', labels: { app: 'web' } },
    data: { password: Buffer.from([0, 255, 1]).toString('base64') }, type: 'Opaque', stringData: { user: 'admin' }, immutable: true,
  });
});

test('protobuf ConfigMap and RoleBinding decode; unsupported kinds and garbage are BadRequest', () => {
  const cm = envelope('v1', 'ConfigMap', [...bytesField(1, Uint8Array.from(bytesField(1, 'c'))), ...entry(2, 'k', 'v')]);
  assert.deepEqual(decodeProtobufObject(cm), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { k: 'v' } });
  const subject = Uint8Array.from([...bytesField(1, 'User'), ...bytesField(2, 'rbac.authorization.k8s.io'), ...bytesField(3, 'bob')]);
  const ref = Uint8Array.from([...bytesField(1, 'rbac.authorization.k8s.io'), ...bytesField(2, 'ClusterRole'), ...bytesField(3, 'viewer')]);
  const rb = envelope('rbac.authorization.k8s.io/v1', 'RoleBinding', [...bytesField(1, Uint8Array.from(bytesField(1, 'b'))), ...bytesField(2, subject), ...bytesField(3, ref)]);
  assert.deepEqual(decodeProtobufObject(rb), {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'b' },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'bob' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'viewer' },
  });
  assert.throws(() => decodeProtobufObject(envelope('v1', 'Pod', [])), (e) => isRegistryError(e, 'BadRequest'));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    try {
      decodeProtobufObject(Uint8Array.from([0x6b, 0x38, 0x73, 0x00, ...bytes]));
    } catch (error) {
      assert.ok(isRegistryError(error, 'BadRequest'), String(error));
    }
  }), { numRuns: 2000 });
});

test('merge patch: null deletes, objects merge, lists and scalars replace', () => {
  const target = { data: { a: '1', b: '2' }, rules: [1, 2], metadata: { labels: { x: 'y' } } };
  assert.deepEqual(applyPatch('merge', target, { data: { b: null, c: '3' }, rules: [3], metadata: { labels: { z: 'w' } } }), {
    data: { a: '1', c: '3' }, rules: [3], metadata: { labels: { x: 'y', z: 'w' } },
  });
  assert.deepEqual(target.data, { a: '1', b: '2' }, 'the target is not modified');
});

test('merge and strategic merge patch set, replace and delete a data key named __proto__ like any other', () => {
  for (const type of ['merge', 'strategic'] as const) {
    const added = applyPatch(type, { data: { a: '1' } }, JSON.parse('{"data":{"__proto__":"eA=="}}')) as { data: object };
    assert.deepEqual(Object.entries(added.data), [['a', '1'], ['__proto__', 'eA==']], type);
    assert.equal(Object.getPrototypeOf(added.data), Object.prototype, type);
    const replaced = applyPatch(type, added, JSON.parse('{"data":{"__proto__":"eQ=="}}')) as { data: object };
    assert.deepEqual(Object.entries(replaced.data), [['a', '1'], ['__proto__', 'eQ==']], type);
    assert.deepEqual(applyPatch(type, replaced, JSON.parse('{"data":{"__proto__":null}}')), { data: { a: '1' } }, type);
  }
});

test('strategic merge patch honours $patch for maps and drops list directives', () => {
  const target = { data: { a: '1', b: '2' }, metadata: { labels: { x: 'y' } } };
  assert.deepEqual(applyPatch('strategic', target, { data: { $patch: 'replace', c: '3' }, '$setElementOrder/rules': [], metadata: { labels: { $patch: 'delete' } } }), {
    data: { c: '3' }, metadata: {},
  });
});

test('JSON patch: add, remove, replace, move, copy, test; bad operations are BadRequest', () => {
  const doc = { data: { a: '1' }, list: ['x'] };
  assert.deepEqual(applyPatch('json', doc, [
    { op: 'add', path: '/data/b', value: '2' }, { op: 'replace', path: '/data/a', value: '9' }, { op: 'copy', from: '/data/b', path: '/data/c' },
    { op: 'move', from: '/data/c', path: '/data/d' }, { op: 'remove', path: '/data/b' }, { op: 'add', path: '/list/-', value: 'y' }, { op: 'test', path: '/list/1', value: 'y' },
  ]), { data: { a: '9', d: '2' }, list: ['x', 'y'] });
  for (const bad of [{}, [{ op: 'remove', path: '/nope' }], [{ op: 'add', path: 'no-slash', value: 1 }], [{ op: 'add', path: '/__proto__/polluted', value: 1 }], [{ op: 'replace', path: '/list/5', value: 1 }]]) {
    assert.throws(() => applyPatch('json', doc, bad), (e) => isRegistryError(e, 'BadRequest'), JSON.stringify(bad));
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
