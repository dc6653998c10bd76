// Field ownership as structured-merge-diff defines it for the kinds Coffer serves: field sets and their
// FieldsV1 form, who owns what after an Update, and an Apply's merge, conflicts, force and pruning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applyConfiguration, type ApplyOutcome, encodeManagers, FieldSet, leavesOf, type Manager, nextManagers, pathString, readClientManagedFields, toFieldsV1,
} from '../../../src/registry/managed-fields/index.ts';
import { fromFieldsV1 } from '../../../src/registry/managed-fields/field-set.ts';
import { isHiddenSecretField, mayHoldHiddenSecretField } from '../../../src/registry/hidden-fields.ts';
import { embeddingAnnotations, isHiddenSecretPath, isInsideHiddenSecretValue, type StatusCause } from '../../../src/registry/index.ts';

const t0 = '2026-01-01T00:00:00Z';
const t1 = '2026-01-01T00:01:00Z';
const lastApplied = embeddingAnnotations[0]!;
const fieldsOf = (outcome: ApplyOutcome, manager: string, operation = 'Apply'): unknown => {
  assert.ok('managers' in outcome, JSON.stringify(outcome));
  const found = outcome.managers.find((m) => m.manager === manager && m.operation === operation);
  return found === undefined ? undefined : toFieldsV1(found.fields);
};
const owner = (manager: string, operation: 'Apply' | 'Update', fields: object): Manager => {
  const read = fromFieldsV1(fields);
  assert.ok('set' in read);
  return { manager, operation, time: t0, fields: read.set };
};

test('leaves name fields, never values: map keys, set values, keyed items; atomic lists and deep nodes whole', () => {
  const view = {
    metadata: { labels: { app: 'web' }, finalizers: ['example.com/a'], ownerReferences: [{ uid: 'u1', name: 'o', kind: 'ConfigMap', apiVersion: 'v1' }] },
    data: { password: 'c2VjcmV0' }, rules: [{ verbs: ['get'] }],
  };
  assert.deepEqual(toFieldsV1(leavesOf(view)), {
    'f:data': { 'f:password': {} },
    'f:metadata': { 'f:finalizers': { 'v:"example.com/a"': {} }, 'f:labels': { 'f:app': {} }, 'f:ownerReferences': { 'k:{"uid":"u1"}': {} } },
    'f:rules': {},
  });
  assert.ok(!JSON.stringify(toFieldsV1(leavesOf(view))).includes('c2VjcmV0'));
  assert.equal(pathString(['f:metadata', 'f:finalizers', 'v:"example.com/a"']), '.metadata.finalizers[="example.com/a"]');
  assert.equal(pathString(['f:metadata', 'f:ownerReferences', 'k:{"uid":"u1"}']), '.metadata.ownerReferences[uid="u1"]');
  let deep: Record<string, unknown> = { end: 'x' };
  for (let i = 0; i < 40; i += 1) deep = { d: deep };
  assert.ok([...leavesOf({ deep })].every((path) => path.length <= 16), 'a node past the depth limit is owned whole');
});

test('FieldsV1 round-trips any set, keyed as sets key paths; malformed FieldsV1 is refused', () => {
  const element = fc.oneof(fc.string({ maxLength: 6 }).map((s) => `f:${s}`), fc.string({ maxLength: 4 }).map((s) => `v:${JSON.stringify(s)}`));
  fc.assert(fc.property(fc.array(fc.array(element, { minLength: 1, maxLength: 4 }), { maxLength: 12 }), (paths) => {
    const set = new FieldSet(paths);
    const back = fromFieldsV1(JSON.parse(JSON.stringify(toFieldsV1(set))));
    assert.ok('set' in back);
    assert.deepEqual(back.set.sorted(), set.sorted());
    // The set read back keys each path as any set does (sets share keys: has, minus, intersect).
    for (const path of set) assert.ok(back.set.has(path), JSON.stringify(path));
    assert.equal(back.set.minus(set).size, 0);
    assert.equal(set.intersect(back.set).size, set.size);
  }), { seed: 17 });
  // A view's nodes are keyed as their paths, whatever the names hold.
  fc.assert(fc.property(fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string(), fc.dictionary(fc.string({ maxLength: 4 }), fc.string()))), (data) => {
    const leaves = leavesOf({ metadata: { labels: data }, data });
    for (const path of leaves) assert.ok(new FieldSet([path]).intersect(leaves).size === 1, JSON.stringify(path));
    assert.equal(leaves.minus(new FieldSet([...leaves])).size, 0);
  }), { seed: 18 });
  for (const bad of [[], 'x', { 'x:y': {} }, { 'f:a': 1 }]) assert.ok('problem' in fromFieldsV1(bad), JSON.stringify(bad));
});

test('an Update owns what it added or changed, takes it from others; removed fields are owned by no one', () => {
  const created = nextManagers([], undefined, { metadata: {}, data: { a: '1', b: '2' } }, { manager: 'create', operation: 'Update', now: t0 });
  assert.deepEqual(created.map((m) => [m.manager, toFieldsV1(m.fields)]), [['create', { 'f:data': { '.': {}, 'f:a': {}, 'f:b': {} } }]]);
  const edited = nextManagers(created, { metadata: {}, data: { a: '1', b: '2' } }, { metadata: {}, data: { a: '9' } }, { manager: 'edit', operation: 'Update', now: t1 });
  assert.deepEqual(edited.map((m) => [m.manager, m.time, toFieldsV1(m.fields)]), [['create', t0, { 'f:data': {} }], ['edit', t1, { 'f:data': { 'f:a': {} } }]]);
  // Nothing changed: nothing owned anew, every time kept.
  assert.deepEqual(nextManagers(edited, { metadata: {}, data: { a: '9' } }, { metadata: {}, data: { a: '9' } }, { manager: 'third', operation: 'Update', now: t1 }), edited);
});

test('Apply: merge, conflict only where another owner would see its value change, force takes over', () => {
  const live = { metadata: { labels: { app: 'web' } }, data: { key: 'one', other: 'x' } };
  const liveManagers = [owner('create', 'Update', { 'f:data': { '.': {}, 'f:key': {}, 'f:other': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} } } })];
  const same = applyConfiguration({ live, liveManagers, config: { metadata: {}, data: { key: 'one' } }, manager: 'me', force: false, now: t1 });
  assert.deepEqual(fieldsOf(same, 'me'), { 'f:data': { 'f:key': {} } });
  assert.deepEqual(fieldsOf(same, 'create', 'Update'), { 'f:data': { '.': {}, 'f:key': {}, 'f:other': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} } } }, 'equal value: shared');
  const refused = applyConfiguration({ live, liveManagers, config: { metadata: { labels: { app: 'api' } }, data: { key: 'two', added: 'n' } }, manager: 'me', force: false, now: t1 });
  assert.ok('conflicts' in refused);
  assert.deepEqual(refused.conflicts.map((c) => [c.manager.manager, pathString(c.path)]), [['create', '.data.key'], ['create', '.metadata.labels.app']]);
  const forced = applyConfiguration({ live, liveManagers, config: { metadata: {}, data: { key: 'two' } }, manager: 'me', force: true, now: t1 });
  assert.ok('view' in forced);
  assert.deepEqual(forced.view.data, { key: 'two', other: 'x' });
  assert.deepEqual(fieldsOf(forced, 'create', 'Update'), { 'f:data': { '.': {}, 'f:other': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} } } });
  assert.equal(live.data.key, 'one', 'the live view is not modified');
});

test('Apply blind: without force, setting a hidden field is refused whatever the values, whether the field exists and whoever owns it', () => {
  const live = { metadata: { labels: { app: 'web' }, annotations: { [lastApplied]: '{"data":{"password":"c2FtZQ=="}}' } }, data: { password: 'c2FtZQ==' } };
  const liveManagers = [
    owner('create', 'Update', { 'f:data': { 'f:password': {} }, 'f:metadata': { 'f:annotations': { [`f:${lastApplied}`]: {} } } }),
    owner('me', 'Apply', { 'f:data': { 'f:mine': {} } }),
  ];
  const apply = (config: Record<string, unknown>, force: boolean): ApplyOutcome => applyConfiguration({ live, liveManagers, config: { metadata: {}, ...config }, manager: 'me', force, now: t1, blindAt: isHiddenSecretField });
  const configs = [
    { data: { password: 'c2FtZQ==' } }, { data: { password: 'b3RoZXI=' } }, { data: { absent: 'c2FtZQ==' } }, { data: { mine: 'bWluZQ==' } }, { data: {} },
    { metadata: { annotations: { [lastApplied]: '{"data":{"password":"c2FtZQ=="}}' } } }, { metadata: { annotations: { [lastApplied]: '{}' } } },
  ];
  for (const config of configs) assert.deepEqual(apply(config, false), { blind: true }, JSON.stringify(config));
  // With force: taken whatever the values — the right value and a wrong one leave the same owners.
  const right = apply({ data: { password: 'c2FtZQ==' } }, true);
  const wrong = apply({ data: { password: 'b3RoZXI=' } }, true);
  assert.ok('managers' in right && 'managers' in wrong);
  assert.deepEqual(right.managers, wrong.managers);
  assert.deepEqual(fieldsOf(right, 'create', 'Update'), { 'f:metadata': { 'f:annotations': { [`f:${lastApplied}`]: {} } } });
  // Fields the caller may see conflict by value, as without blindness.
  const labels = apply({ metadata: { labels: { app: 'api' } } }, false);
  assert.ok('managers' in labels, 'no other manager owns the label');
  assert.ok('managers' in apply({ metadata: { labels: { app: 'web' } } }, false));
});

test('hidden fields: values, embedding annotations and managedFields, by object path and by field path; setting a key is not inside a value', () => {
  for (const path of [['data'], ['data', 'k'], ['data', 'k', 'x'], ['stringData', 'k'], ['binaryData'], ['metadata', 'managedFields'], ['metadata', 'managedFields', '0', 'fieldsV1'], ['metadata', 'annotations', lastApplied], ['metadata', 'annotations', lastApplied, 'x']]) {
    assert.equal(isHiddenSecretPath(path), true, path.join('/'));
  }
  for (const path of [[], ['metadata'], ['metadata', 'annotations'], ['metadata', 'annotations', 'note'], ['metadata', 'labels', 'data'], ['type'], ['immutable']]) {
    assert.equal(isHiddenSecretPath(path), false, path.join('/'));
  }
  for (const path of [['data', 'k', 'x'], ['metadata', 'managedFields', '0'], ['metadata', 'managedFields', '-'], ['metadata', 'annotations', lastApplied, 'x']]) {
    assert.equal(isInsideHiddenSecretValue(path), true, path.join('/'));
  }
  for (const path of [['data'], ['data', 'k'], ['metadata', 'managedFields'], ['metadata', 'annotations', lastApplied], ['metadata', 'annotations', 'note', 'x']]) {
    assert.equal(isInsideHiddenSecretValue(path), false, path.join('/'));
  }
  assert.equal(isHiddenSecretField(['f:data', 'f:password']), true);
  assert.equal(isHiddenSecretField(['f:metadata', 'f:annotations', `f:${lastApplied}`]), true);
  assert.equal(isHiddenSecretField(['f:metadata', 'f:annotations', 'f:note']), false);
  assert.equal(isHiddenSecretField(['f:metadata', 'f:labels', 'f:app']), false);
});

test('Apply prunes what the manager stopped applying, unless another manager owns it; sets and keyed lists by item', () => {
  const live = { metadata: { finalizers: ['a', 'b'] }, data: { keep: 'k', drop: 'd', shared: 's' } };
  const liveManagers = [
    owner('me', 'Apply', { 'f:data': { 'f:keep': {}, 'f:drop': {}, 'f:shared': {} }, 'f:metadata': { 'f:finalizers': { 'v:"a"': {} } } }),
    owner('other', 'Apply', { 'f:data': { 'f:shared': {} }, 'f:metadata': { 'f:finalizers': { 'v:"b"': {} } } }),
  ];
  const outcome = applyConfiguration({ live, liveManagers, config: { metadata: {}, data: { keep: 'k' } }, manager: 'me', force: false, now: t1 });
  assert.ok('view' in outcome);
  assert.deepEqual(outcome.view, { metadata: { finalizers: ['b'] }, data: { keep: 'k', shared: 's' } });
  const again = applyConfiguration({ live: outcome.view, liveManagers: outcome.managers, config: { metadata: {}, data: { keep: 'k' } }, manager: 'me', force: false, now: '2026-01-01T00:02:00Z' });
  assert.ok('managers' in again);
  assert.deepEqual(again.view, outcome.view);
  assert.equal(again.managers.find((m) => m.manager === 'me')?.time, t1, 'the same configuration again keeps the time');
});

test('client-sent managedFields: validated, times to the second; a single empty entry clears them; the Update cap merges the oldest', () => {
  const causes: StatusCause[] = [];
  assert.deepEqual(readClientManagedFields([{}], 'v1', causes), { kind: 'reset' });
  assert.deepEqual(readClientManagedFields([], 'v1', causes), { kind: 'keep' });
  readClientManagedFields([{ manager: 'm', operation: 'Patch', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: {} }], 'v1', causes);
  readClientManagedFields([{ manager: 'm', operation: 'Update', apiVersion: 'v2', fieldsType: 'FieldsV1', fieldsV1: {} }], 'v1', causes);
  const entry = { manager: 'm', operation: 'Update', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': {} } };
  // Sent back with milliseconds (client-node serializes a Date so): the same time as stored.
  const echoed = readClientManagedFields([{ ...entry, time: '2026-01-01T00:00:00.000Z' }], 'v1', causes);
  assert.ok(echoed.kind === 'set' && echoed.managers[0]!.time === t0);
  readClientManagedFields([entry, entry], 'v1', causes);
  assert.deepEqual(causes.map((c) => c.field), ['metadata.managedFields[0].operation', 'metadata.managedFields[0].apiVersion', 'metadata.managedFields[1]']);
  const many = Array.from({ length: 12 }, (_, i) => ({ manager: `m${i}`, operation: 'Update' as const, time: `2026-01-01T00:00:${String(10 + i)}Z`, fields: new FieldSet([['f:data', `f:k${i}`]]) }));
  const entries = encodeManagers(many, 'v1')!;
  assert.equal(entries.length, 10);
  assert.equal(entries[0]!.manager, 'ancient-changes');
  assert.deepEqual(entries[0]!.fieldsV1, { 'f:data': { 'f:k0': {}, 'f:k1': {}, 'f:k2': {} } });
});

// Applies `config` as `manager` to `state` (a view and its managers), as the registry does: the outcome is the next state.
type State = { view: Record<string, unknown>; managers: Manager[] };
const applied = (state: State, manager: string, config: Record<string, unknown>): State => {
  const outcome = applyConfiguration({ live: state.view, liveManagers: state.managers, config: { metadata: {}, ...config }, manager, force: false, now: t1 });
  assert.ok('view' in outcome, JSON.stringify(outcome));
  return { view: outcome.view, managers: nextManagers(outcome.managers, state.view, outcome.view, { manager, operation: 'Apply', now: t1 }) };
};

test('a prune never removes what another manager owns: a node the applier owned keeps the fields others own below it (kubectl\'s migration to server-side apply)', () => {
  // kubectl's migration gives `kubectl` (Apply) the client-side applier's Update fields, nodes (".") included.
  const view = { metadata: { labels: { app: 'web', extra: 'kept' }, annotations: { owner: 'ops' } }, data: { password: 'cA==', user: 'dQ==', other: 'bw==' } };
  const managers = [
    owner('kubectl', 'Apply', {
      'f:data': { '.': {}, 'f:password': {}, 'f:user': {} },
      'f:metadata': { 'f:annotations': { '.': {}, 'f:owner': {} }, 'f:labels': { '.': {}, 'f:app': {} } },
    }),
    owner('kubectl-label', 'Update', { 'f:metadata': { 'f:labels': { 'f:extra': {} } } }),
    owner('team-b', 'Apply', { 'f:data': { 'f:other': {} } }),
  ];
  const config = { metadata: { labels: { app: 'web' }, annotations: { owner: 'ops' } }, data: { password: 'cA==', user: 'dQ==' } };
  const again = applied({ view, managers }, 'kubectl', config);
  assert.deepEqual(again.view, view, 'applying what the object holds removes nothing');
  // Stopping applying data, labels and annotations: its own leaves go, with a node only when no one else owns anything in it.
  const stopped = applied({ view, managers }, 'kubectl', {});
  assert.deepEqual(stopped.view, { metadata: { labels: { extra: 'kept' } }, data: { other: 'bw==' } });
});

test('a prune never removes what another manager owns: an empty map applied once, then no longer', () => {
  // team-b owns a data key; team-a applied `data: {}` (owning the map itself), then stops applying data.
  let secret: State = applied({ view: { metadata: {} }, managers: [] }, 'team-b', { data: { password: 'Yg==' } });
  secret = applied(secret, 'team-a', { data: {} });
  assert.deepEqual(fieldsOf(secret, 'team-a'), { 'f:data': {} });
  secret = applied(secret, 'team-a', {});
  assert.deepEqual(secret.view.data, { password: 'Yg==' });
  assert.deepEqual(fieldsOf(secret, 'team-b'), { 'f:data': { 'f:password': {} } });
  // Owned by no one else: the map goes.
  let alone: State = applied({ view: { metadata: {} }, managers: [] }, 'team-a', { data: {} });
  alone = applied(alone, 'team-a', {});
  assert.deepEqual(alone.view, { metadata: {} });
});

test('a prune never removes what another manager owns: an empty finalizers set applied once, then no longer', () => {
  // guard applies a finalizer; another manager applied `finalizers: []`, then no longer.
  let held: State = applied({ view: { metadata: {} }, managers: [] }, 'guard', { metadata: { finalizers: ['example.com/protect'] } });
  held = applied(held, 'other', { metadata: { finalizers: [] } });
  held = applied(held, 'other', {});
  assert.deepEqual(held.view.metadata, { finalizers: ['example.com/protect'] });
});

test('a prune never removes what another manager owns: an empty roleRef applied once, then no longer', () => {
  // A RoleBinding's roleRef, applied by one manager (its leaves); another applied `roleRef: {}`, then no longer.
  const roleRef = { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' };
  let binding: State = applied({ view: { metadata: {} }, managers: [] }, 'rbac-tool', { roleRef, subjects: [{ kind: 'User', name: 'u' }] });
  binding = applied(binding, 'tool', { roleRef: {} });
  binding = applied(binding, 'tool', {});
  assert.deepEqual(binding.view.roleRef, roleRef);
});

test('a blind prune answers the same whoever owns the hidden fields: a node that may hold one is not removed whole', () => {
  // `me` may not get the Secret; it applied a data key (with force) and an annotation, and stops applying both. Whether another
  // manager owns the rest of data, or the last-applied annotation, is hidden from it; an unowned annotation and key are there.
  const live = { metadata: { annotations: { note: 'n', unowned: 'u', [lastApplied]: '{}' } }, data: { mine: 'bQ==', 'tls.crt': 'Yw==' } };
  const mine = owner('me', 'Apply', { 'f:data': { 'f:mine': {} }, 'f:metadata': { 'f:annotations': { 'f:note': {} } } });
  const hiddenOwner = owner('kubectl-last-applied', 'Apply', { 'f:data': { 'f:tls.crt': {} }, 'f:metadata': { 'f:annotations': { [`f:${lastApplied}`]: {} } } });
  const prune = (liveManagers: Manager[]): Record<string, unknown> => {
    const outcome = applyConfiguration({ live, liveManagers, config: { metadata: {} }, manager: 'me', force: false, now: t1, blindAt: isHiddenSecretField, mayHoldBlindAt: mayHoldHiddenSecretField });
    assert.ok('view' in outcome, JSON.stringify(outcome));
    return outcome.view;
  };
  const owned = prune([mine, hiddenOwner]);
  const unowned = prune([mine]);
  // What the caller sees (no data, no last-applied annotation), and which data keys a type's validation reads: the same.
  const seen = (view: Record<string, unknown>): unknown => {
    const { [lastApplied]: _hidden, ...annotations } = (view.metadata as { annotations?: Record<string, string> }).annotations ?? {};
    return { annotations, keys: Object.keys(view.data ?? {}) };
  };
  assert.deepEqual(seen(owned), seen(unowned));
  assert.deepEqual(seen(owned), { annotations: { unowned: 'u' }, keys: ['tls.crt'] });
  // A caller who may get the Secret prunes as structured-merge-diff does: a node no one owns anything in goes whole.
  const open = applyConfiguration({ live, liveManagers: [mine], config: { metadata: {} }, manager: 'me', force: false, now: t1 });
  assert.ok('view' in open);
  assert.deepEqual(open.view, { metadata: {} });
});
