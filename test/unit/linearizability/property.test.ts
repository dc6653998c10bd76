import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type KvInput, type KvOperation, type RegisterState, applyKv, checkLinearizable, kvModel } from '../../support/linearizability/index.ts';

const keys = ['a', 'b', 'c'];

interface Plan {
  kind: 'read' | 'write' | 'cas';
  key: number;
  /** For cas: compare with the current value (likely success) or with something else. */
  casMatches: boolean;
  /** How far before its linearization point the call is, and after it the return. */
  before: number;
  after: number;
  /** Indeterminate: the client never heard back. `lost` ones never took effect at all. */
  timedOut: boolean;
  lost: boolean;
}

const planArb: fc.Arbitrary<Plan> = fc.record({
  kind: fc.constantFrom('read' as const, 'write' as const, 'cas' as const),
  key: fc.integer({ min: 0, max: keys.length - 1 }),
  casMatches: fc.boolean(),
  before: fc.integer({ min: 0, max: 60 }),
  after: fc.integer({ min: 1, max: 60 }),
  timedOut: fc.boolean().chain((b) => (b ? fc.boolean() : fc.constant(false))),
  lost: fc.boolean(),
});

/**
 * Executes the plans one after another against the model; operation i takes effect at time 10·i + 5,
 * inside its [call, return] interval, so the resulting history is linearizable by construction.
 */
function execute(plans: Plan[]): KvOperation[] {
  const state = new Map<string, RegisterState>();
  return plans.map((p, i) => {
    const key = keys[p.key] as string;
    const current = state.get(key) ?? null;
    const value = `v${i}`;
    const input: KvInput = p.kind === 'read' ? { kind: 'read', key } : p.kind === 'write' ? { kind: 'write', key, value }
      : { kind: 'cas', key, expected: p.casMatches ? current : `other${i}`, value };
    const point = 10 * i + 5;
    const call = point - p.before;
    if (p.timedOut && p.lost) return { clientId: i, input, output: undefined, call, return: Infinity };
    const [next, output] = applyKv(current, input);
    state.set(key, next);
    if (p.timedOut) return { clientId: i, input, output: undefined, call, return: Infinity };
    return { clientId: i, input, output, call, return: point + p.after };
  });
}

test('histories executed sequentially with overlapping intervals consistent with that order are accepted', () => {
  fc.assert(
    fc.property(fc.array(planArb, { maxLength: 40 }), (plans) => {
      const result = checkLinearizable(kvModel, execute(plans));
      assert.equal(result.verdict, 'ok');
    }),
    { numRuns: 300 },
  );
});

test('such a history with one completed read changed to a value never written is rejected', () => {
  fc.assert(
    fc.property(fc.array(planArb, { minLength: 1, maxLength: 30 }), fc.nat(), (plans, pick) => {
      const history = execute(plans);
      const reads = history.filter((o) => o.input.kind === 'read' && o.output !== undefined);
      fc.pre(reads.length > 0);
      const victim = reads[pick % reads.length] as KvOperation;
      victim.output = { kind: 'read', value: 'never-written' };
      assert.equal(checkLinearizable(kvModel, history).verdict, 'illegal');
    }),
    { numRuns: 200 },
  );
});
