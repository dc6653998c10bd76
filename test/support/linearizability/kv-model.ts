/**
 * A map of registers — read, write and compare-and-set on string keys — partitioned by key, since
 * operations on different keys commute. Absent keys read as null.
 */
import type { Operation } from './history.ts';
import type { Model } from './model.ts';

export type KvInput =
  | { kind: 'read'; key: string }
  | { kind: 'write'; key: string; value: string }
  | { kind: 'cas'; key: string; expected: string | null; value: string };

export type KvOutput =
  | { kind: 'read'; value: string | null }
  | { kind: 'write' }
  | { kind: 'cas'; ok: boolean };

export type KvOperation = Operation<KvInput, KvOutput>;

/** The state of one partition: one register. */
export type RegisterState = string | null;

/** The register's sequential semantics; shared by the checker's model and the simulator's state machine. */
export function applyKv(state: RegisterState, input: KvInput): [RegisterState, KvOutput] {
  switch (input.kind) {
    case 'read':
      return [state, { kind: 'read', value: state }];
    case 'write':
      return [input.value, { kind: 'write' }];
    case 'cas':
      return state === input.expected ? [input.value, { kind: 'cas', ok: true }] : [state, { kind: 'cas', ok: false }];
  }
}

function sameOutput(a: KvOutput, b: KvOutput): boolean {
  if (a.kind === 'read' && b.kind === 'read') return a.value === b.value;
  if (a.kind === 'cas' && b.kind === 'cas') return a.ok === b.ok;
  return a.kind === b.kind;
}

export const kvModel: Model<RegisterState, KvInput, KvOutput> = {
  init: () => null,
  step(state, input, output) {
    const [next, expected] = applyKv(state, input);
    // An indeterminate operation is accepted with its effect; a completed one must match what it saw.
    return [output === undefined || sameOutput(expected, output), next];
  },
  // JSON keeps null and every string distinct.
  key: (state) => JSON.stringify(state),
  partition(history) {
    const byKey = new Map<string, KvOperation[]>();
    for (const op of history) {
      const part = byKey.get(op.input.key);
      if (part) part.push(op);
      else byKey.set(op.input.key, [op]);
    }
    return [...byKey.keys()].sort().map((k) => byKey.get(k) as KvOperation[]);
  },
  describe(op) {
    const i = op.input;
    const what = i.kind === 'read' ? `read(${i.key})` : i.kind === 'write' ? `write(${i.key}, ${i.value})`
      : `cas(${i.key}, ${String(i.expected)} → ${i.value})`;
    const out = op.output === undefined ? '?' : JSON.stringify(op.output);
    return `client ${op.clientId} [${op.call}, ${op.return}] ${what} = ${out}`;
  },
};
