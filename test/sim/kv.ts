/**
 * The state machine the simulated cluster replicates: a few string registers with read / write /
 * compare-and-set, the same semantics the linearizability model checks against (applyKv).
 *
 * A command carries a unique operation id; the state machine remembers every applied id and its
 * output, so a command that reaches the log twice (a duplicated proposal message) takes effect once.
 */
import { type KvInput, type KvOutput, type RegisterState, applyKv } from '../support/linearizability/index.ts';

export interface Command {
  opId: string;
  input: KvInput;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(c: Command): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): Command {
  return JSON.parse(decoder.decode(data)) as Command;
}

export class KvStateMachine {
  private readonly values = new Map<string, RegisterState>();
  /** Every applied operation id with its output. Invariant: an id is applied at most once. */
  private readonly results = new Map<string, KvOutput>();

  get(key: string): RegisterState {
    return this.values.get(key) ?? null;
  }

  hasApplied(opId: string): boolean {
    return this.results.has(opId);
  }

  /** Applies a command once; a repeat returns the first output and changes nothing. */
  apply(c: Command): KvOutput {
    const seen = this.results.get(c.opId);
    if (seen) return seen;
    const [next, output] = applyKv(this.get(c.input.key), c.input);
    this.values.set(c.input.key, next);
    this.results.set(c.opId, output);
    return output;
  }

  /** A canonical image (sorted), so equal states encode to equal bytes. */
  encode(): Uint8Array {
    const values = [...this.values.entries()].sort(([a], [b]) => a.localeCompare(b));
    const results = [...this.results.entries()].sort(([a], [b]) => a.localeCompare(b));
    return encoder.encode(JSON.stringify({ values, results }));
  }

  static decode(data: Uint8Array): KvStateMachine {
    const kv = new KvStateMachine();
    if (data.length === 0) return kv;
    const image = JSON.parse(decoder.decode(data)) as { values: [string, RegisterState][]; results: [string, KvOutput][] };
    for (const [k, v] of image.values) kv.values.set(k, v);
    for (const [k, v] of image.results) kv.results.set(k, v);
    return kv;
  }
}
