// Label and field selectors: Kubernetes' syntax, matching semantics, and refusal of bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isRegistryError, matchesLabels, parseFieldSelector, parseLabelSelector } from '../../../src/registry/index.ts';
import { matchesFields } from '../../../src/registry/selectors.ts';
import type { StoredObject } from '../../../src/registry/object.ts';

const labels = { app: 'web', env: 'prod', 'example.com/team': 'a' };

test('every operator matches as in Kubernetes', () => {
  const cases: Array<[string, boolean]> = [
    ['app=web', true], ['app==web', true], ['app=db', false], ['app!=db', true], ['app!=web', false],
    ['missing!=x', true], ['env in (prod, staging)', true], ['env in (dev)', false], ['env notin (dev)', true],
    ['missing notin (a)', true], ['env notin (prod)', false], ['app', true], ['missing', false], ['!missing', true], ['!app', false],
    ['example.com/team=a', true], ['app=web,env=prod', true], ['app=web,env=dev', false], ['', true],
  ];
  for (const [selector, expected] of cases) assert.equal(matchesLabels(parseLabelSelector(selector), labels), expected, selector);
});

test('a label key is looked up among the object\'s own labels, never its prototype\'s (labelSelector=constructor matched every labelled object, !toString none)', () => {
  const inherited = Object.getOwnPropertyNames(Object.prototype).filter((key) => !key.startsWith('_'));
  assert.ok(inherited.includes('constructor') && inherited.includes('toString'));
  for (const key of inherited) {
    assert.equal(matchesLabels(parseLabelSelector(key), labels), false, key);
    assert.equal(matchesLabels(parseLabelSelector(`!${key}`), labels), true, `!${key}`);
    assert.equal(matchesLabels(parseLabelSelector(`${key} notin (x)`), labels), true, `${key} notin (x)`);
    assert.equal(matchesLabels(parseLabelSelector(`${key}!=x`), {}), true, `${key}!=x, no labels`);
    // An object that has the label as its own still matches on it.
    assert.equal(matchesLabels(parseLabelSelector(`${key}=v`), Object.fromEntries([[key, 'v']])), true, `own ${key}`);
  }
});

test('a selectable field is read from the object itself, never its prototype', () => {
  const object = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default' } } as unknown as StoredObject;
  for (const field of ['constructor', 'toString', 'type']) {
    assert.equal(matchesFields(parseFieldSelector(`${field}=`, [field]), object), true, field);
  }
  assert.equal(matchesFields(parseFieldSelector('type=Opaque', ['type']), { ...object, type: 'Opaque' }), true);
});

test('malformed selectors are BadRequest naming the problem', () => {
  for (const bad of ['a in (b', 'a in b)', '=x', 'a=b=c', 'a in ((b))', 'bad key=x', 'a=' + 'x'.repeat(64), '-a=b']) {
    assert.throws(() => parseLabelSelector(bad), (e) => isRegistryError(e, 'BadRequest'), bad);
  }
});

test('field selectors support metadata.name and metadata.namespace only', () => {
  assert.deepEqual(parseFieldSelector('metadata.name=db'), [{ field: 'metadata.name', equal: true, value: 'db' }]);
  assert.deepEqual(parseFieldSelector('metadata.namespace!=kube'), [{ field: 'metadata.namespace', equal: false, value: 'kube' }]);
  assert.throws(() => parseFieldSelector('spec.x=1'), (e) => isRegistryError(e, 'BadRequest'));
});

test('any string either parses or is BadRequest — never another error', () => {
  fc.assert(fc.property(fc.string({ maxLength: 80 }), (text) => {
    try {
      parseLabelSelector(text);
    } catch (error) {
      assert.ok(isRegistryError(error, 'BadRequest'), String(error));
    }
  }), { numRuns: 2000 });
});
