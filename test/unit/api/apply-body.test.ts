// The body of a server-side apply as parseApplyBody reads it: duplicate keys found in one pass (the YAML
// parser's own check compared each key with every earlier one: quadratic), and a text refused while it
// is read once it holds more than applyYamlTokensMax tokens or nests deeper than requestBodyDepthMax —
// the parser takes 2–4 µs a token and its composer recurses. The times asserted are generous: the code
// before took 5 to 45 s on the same texts, this ~0.1 s and ~1 ms.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lexer } from 'yaml';
import { parseApplyBody } from '../../../src/api/k8s/apply-body.ts';
import { applyYamlTokensMax, requestBodyDepthMax } from '../../../src/config/index.ts';
import { isRegistryError } from '../../../src/registry/index.ts';

function assertUnreadable(text: string, why: RegExp): void {
  assert.throws(() => parseApplyBody(text), (error: unknown) => isRegistryError(error, 'BadRequest') && why.test(error.message.replace(/^the applied configuration cannot be read: /, '')));
}

/**
 * parseApplyBody's outcome for `text` (its value, or its error), and how long it took once the parser was
 * compiled: `warmUp`, a text of the same shape, is read first, untimed.
 */
function timed(text: string, warmUp: string): { outcome: unknown; ms: number } {
  try {
    parseApplyBody(warmUp);
  } catch {
    // Its outcome is not what is measured.
  }
  const started = performance.now();
  let outcome: unknown;
  try {
    outcome = parseApplyBody(text);
  } catch (error) {
    outcome = error;
  }
  return { outcome, ms: performance.now() - started };
}

test('a key twice in one mapping is refused naming the line of the first repeat, block or flow, at any depth; one key in two mappings is not', () => {
  assertUnreadable('a: 1\nb: 2\na: 3\n', /^a key appears twice \(line 3\)$/);
  assertUnreadable('{"a":1,"b":{"c":1,"c":2}}', /^a key appears twice \(line 1\)$/);
  assertUnreadable('x:\n- a: 1\n  a: 2\n', /^a key appears twice \(line 3\)$/);
  assertUnreadable('a:\n  b: 1\n  b: 2\nc: 3\nc: 4\n', /^a key appears twice \(line 3\)$/);
  assert.deepEqual(parseApplyBody('a: {c: 1}\nb: {c: 2}\nd: [{c: 1}, {c: 2}]\n'), { a: { c: 1 }, b: { c: 2 }, d: [{ c: 1 }, { c: 2 }] });
});

test('duplicate keys are found in one pass, a Set per mapping: 6,000 keys of one mapping are read, flow or block; one repeated at the end is refused naming its line', () => {
  const keys = Array.from({ length: 6_000 }, (_, i) => `k${i}`);
  assert.equal(Object.keys(parseApplyBody(`{${keys.join(',')}}`) as object).length, 6_000);
  assert.equal(Object.keys(parseApplyBody(keys.map((key) => `${key}: v`).join('\n')) as object).length, 6_000);
  assertUnreadable(`{${keys.join(',')},k0}`, /^a key appears twice \(line 1\)$/);
  assertUnreadable(`${keys.map((key) => `${key}: v`).join('\n')}\nk0: v\n`, /^a key appears twice \(line 6001\)$/);
});

test(`more than applyYamlTokensMax (${applyYamlTokensMax}) tokens are refused while the text is read: 1.4 MB takes about what reading the limit's worth does (5–16 s before, 100 times more); exactly that many are read`, () => {
  // `["a","a",…]` of n items: the stream's start, the brackets, n scalars and n - 1 commas.
  const sequence = (items: number): string => `[${Array(items).fill('"a"').join(',')}]`;
  const items = (applyYamlTokensMax - 2) / 2;
  // Compared with reading a text of the limit's tokens on the same machine at the same moment, the best
  // of three of each: how fast the machine is does not matter, only that the refusal stops at the limit.
  const best = (text: string) => [0, 1, 2].map(() => timed(text, `[${Array(10_000).fill('0').join(',')}]`)).sort((x, y) => x.ms - y.ms)[0]!;
  const atLimit = best(sequence(items));
  const huge = best(`[${Array(700_000).fill('0').join(',')}]`);
  assert.ok(huge.ms < 5 * atLimit.ms, `1.4 MB of tokens took ${Math.round(huge.ms)} ms, reading the limit's worth ${Math.round(atLimit.ms)} ms`);
  assert.ok(isRegistryError(huge.outcome, 'BadRequest') && huge.outcome.message === `the applied configuration cannot be read: it holds more than ${applyYamlTokensMax} YAML tokens`);
  assert.equal([...new Lexer().lex(sequence(items))].length, applyYamlTokensMax);
  assert.equal((parseApplyBody(sequence(items)) as unknown[]).length, items);
  assertUnreadable(sequence(items + 1), /^it holds more than \d+ YAML tokens$/);
  // Line breaks and comments count too: they cost the parser as much.
  assertUnreadable(`a: 1${'\n#'.repeat(applyYamlTokensMax)}`, /^it holds more than \d+ YAML tokens$/);
});

test(`nesting deeper than requestBodyDepthMax (${requestBodyDepthMax}) is refused while the text is read: 1 MB of "[" in well under 1 s (20–45 s before); flow or block, at the limit it is read`, () => {
  const deep = timed('['.repeat(1_000_000), '['.repeat(1_000));
  assert.ok(deep.ms < 1_000, `1 MB of "[" took ${Math.round(deep.ms)} ms`);
  assert.ok(isRegistryError(deep.outcome, 'BadRequest') && deep.outcome.message === `the applied configuration cannot be read: it is nested deeper than ${requestBodyDepthMax} levels`);
  const shapes: Array<[string, (levels: number) => string]> = [
    ['flow sequences', (levels) => `${'['.repeat(levels)}${']'.repeat(levels)}`],
    ['JSON objects', (levels) => `${'{"a":'.repeat(levels - 1)}{"a":1}${'}'.repeat(levels - 1)}`],
    ['block maps', (levels) => Array.from({ length: levels }, (_, i) => `${'  '.repeat(i)}a:${i === levels - 1 ? ' 1' : ''}`).join('\n')],
    ['block sequences', (levels) => `${'- '.repeat(levels)}x`],
  ];
  for (const [shape, nested] of shapes) {
    assert.doesNotThrow(() => parseApplyBody(nested(requestBodyDepthMax)), shape);
    assertUnreadable(nested(requestBodyDepthMax + 1), /^it is nested deeper than \d+ levels$/);
  }
});

test('one document of valid YAML, aliases bounded: each refusal names its line where it has one', () => {
  assertUnreadable('a: 1\n---\nb: 2\n', /^it holds more than one document \(line 2\)$/);
  assertUnreadable('a: 1\nb: [\n', /^it is not valid YAML or JSON \(line \d+\)$/);
  assertUnreadable(`a: &x [1]\nb: [${Array(101).fill('*x').join(',')}]\n`, /^it expands more than 100 aliases$/);
  assert.deepEqual(parseApplyBody(''), null);
  assert.deepEqual(parseApplyBody('{"apiVersion":"v1","kind":"ConfigMap","data":{"a":"1"}}'), { apiVersion: 'v1', kind: 'ConfigMap', data: { a: '1' } });
});
