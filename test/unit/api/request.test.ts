// The one parsed request: strict path and query parsing, the RBAC attributes derived from it, and the
// canonical URL the router is given parsing back to the same request (a property, checked with fast-check).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseRequest, type ParsedRequest } from '../../../src/api/request.ts';
import { requestPathBytesMax } from '../../../src/config/index.ts';

const ns = '/api/v1/namespaces/default';

function parsed(method: string, url: string): ParsedRequest {
  const result = parseRequest(method, url);
  assert.ok(result.ok, `${url}: ${result.ok ? '' : result.message}`);
  return result;
}

test('the verb, resource, namespace and name come from the decoded segments and the parsed watch flag', () => {
  assert.deepEqual(parsed('GET', `${ns}/secrets/db?watch=%74rue`).info, {
    isResource: true, verb: 'watch', apiGroup: '', apiVersion: 'v1', resource: 'secrets', subresource: '', namespace: 'default', name: 'db',
  });
  for (const [query, verb] of [['watch=1', 'watch'], ['watch=True', 'watch'], ['watch=0', 'get'], ['watch=FALSE', 'get'], ['', 'get'], ['%77atch=true', 'watch'], ['w%61tch=1', 'watch']]) {
    assert.equal(parsed('GET', `${ns}/secrets/db?${query}`).info.verb, verb, query);
  }
  assert.equal(parsed('GET', `${ns}/%73ecrets`).info.verb, 'list');
  assert.equal((parsed('GET', `${ns}/%73ecrets/d%62`).info as { name: string }).name, 'db');
  assert.equal(parsed('DELETE', `${ns}/configmaps`).info.verb, 'deletecollection');
  assert.deepEqual(parsed('POST', '/v3/kv/range').info, { isResource: false, verb: 'post', path: '/v3/kv/range' });
});

test('a list or watch whose only field selector term is metadata.name=NAME is a request for NAME; nothing else names one', () => {
  const nameOf = (method: string, url: string) => (parsed(method, url).info as { name: string; verb: string });
  for (const query of ['fieldSelector=metadata.name%3Ddb', 'fieldSelector=metadata.name%3D%3Ddb', 'fieldSelector=+metadata.name+%3D+db+', 'fieldSelector=metadata.name=db,', '%66ieldSelector=metadata.name%3Ddb']) {
    assert.deepEqual([nameOf('GET', `${ns}/secrets?${query}`).verb, nameOf('GET', `${ns}/secrets?${query}`).name], ['list', 'db'], query);
    assert.deepEqual([nameOf('GET', `${ns}/secrets?watch=1&${query}`).verb, nameOf('GET', `${ns}/secrets?watch=1&${query}`).name], ['watch', 'db'], query);
  }
  for (const query of ['fieldSelector=metadata.name!%3Ddb', 'fieldSelector=metadata.name%3Ddb,metadata.name%3Dx', 'fieldSelector=metadata.name%3Ddb%2Ctype%3DOpaque', 'fieldSelector=type%3DOpaque',
    'fieldSelector=metadata.namespace%3Ddb', 'fieldSelector=metadata.name%3D', 'fieldSelector=metadata.name%3D..', 'fieldSelector=metadata.name%3Da%25b', 'fieldSelector=bogus', 'labelSelector=metadata.name%3Ddb', 'fieldselector=metadata.name%3Ddb']) {
    assert.equal(nameOf('GET', `${ns}/secrets?${query}`).name, '', query);
    assert.equal(nameOf('GET', `${ns}/secrets?watch=true&${query}`).name, '', query);
  }
  // Only a list or watch: a deletecollection is not a read of one name; an object's own name stays its path's.
  assert.equal(nameOf('DELETE', `${ns}/secrets?fieldSelector=metadata.name%3Ddb`).name, '');
  assert.equal(nameOf('GET', `${ns}/secrets/other?watch=1&fieldSelector=metadata.name%3Ddb`).name, 'other');
  assert.equal(parseRequest('GET', `${ns}/secrets?fieldSelector=metadata.name%3Ddb&fieldSelector=metadata.name%3Dx`).ok, false, 'a repeated parameter is refused');
});

test('a URL that could be read two ways is refused, never guessed', () => {
  const refused: Array<[string, RegExp]> = [
    [`${ns}/./secrets/db`, /"\." or "\.\."/],
    [`${ns}/secrets/../secrets/db`, /"\." or "\.\."/],
    [`${ns}/secrets/%2e%2e`, /"\." or "\.\."/],
    [`${ns}//secrets`, /empty segment/],
    [`${ns}/secrets/`, /empty segment/],
    [`${ns}/secrets/a%2Fb`, /encoded "\/"/],
    [`${ns}/secrets/%zz`, /invalid percent-encoding/],
    [`${ns}/secrets/%C0%AF`, /invalid percent-encoding/],
    [`${ns}/secrets/db%00`, /control character/],
    [`${ns}/secrets/db#frag`, /fragment/],
    [`${ns}/secrets?watch=true&watch=false`, /given more than once/],
    [`${ns}/secrets?watch=true&%77atch=true`, /given more than once/],
    [`${ns}/secrets?watch=yes`, /must be true or false/],
    [`${ns}/secrets?=x`, /has no name/],
    [`${ns}/secrets?watch=true`, /cannot be a HEAD request/],
    ['http://example.com/api/v1/namespaces', /starting with "\/"/],
    ['*', /starting with "\/"/],
  ];
  for (const [url, message] of refused) {
    const method = message.source.includes('HEAD') ? 'HEAD' : 'GET';
    const result = parseRequest(method, url);
    assert.equal(result.ok, false, url);
    if (!result.ok) {
      assert.equal(result.code, 400, url);
      assert.match(result.message, message, url);
      // A refused request names no resource, so no RBAC rule for a real path can match it.
      assert.deepEqual(result.info, { isResource: false, verb: method.toLowerCase(), path: '' });
    }
  }
});

test('an over-long path or query is refused with 414, and the refusal does not echo it', () => {
  const long = parseRequest('GET', `${ns}/secrets/${'n'.repeat(requestPathBytesMax)}`);
  assert.equal(long.ok, false);
  if (!long.ok) {
    assert.equal(long.code, 414);
    assert.ok(!long.message.includes('nnnnnnnnnn'));
  }
  const manyParams = parseRequest('GET', `${ns}/secrets?${Array.from({ length: 100 }, (_, i) => `p${i}=1`).join('&')}`);
  assert.equal(manyParams.ok, false);
});

test('the canonical URL parses back to the same request, whatever the encoding of the original', () => {
  const segment = fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' }).filter((s) => s !== '.' && s !== '..' && !s.includes('/') && ![...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f));
  fc.assert(fc.property(fc.array(segment, { maxLength: 6 }), fc.dictionary(segment, fc.string({ maxLength: 8 }), { maxKeys: 4 }), (segments, query) => {
    const raw = `/${segments.map((s) => encodeURIComponent(s)).join('/')}${Object.keys(query).length > 0 ? `?${Object.entries(query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}` : ''}`;
    const first = parseRequest('GET', raw);
    if (!first.ok) return; // e.g. a generated `watch` key with a non-boolean value
    const again = parsed('GET', first.canonicalUrl);
    assert.deepEqual(again.segments, first.segments);
    assert.deepEqual(again.query, first.query);
    assert.deepEqual(again.info, first.info);
    assert.equal(again.canonicalUrl, first.canonicalUrl);
  }), { seed: 20261202, numRuns: 500 });
});
