// Label and field selectors: Kubernetes' syntax, matching semantics, and refusal of bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isRegistryError, matchesLabels, parseFieldSelector, parseLabelSelector } from '../../../src/registry/index.ts';

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
