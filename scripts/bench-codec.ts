/**
 * Measures candidate peer codecs on a typical replication message (an append of 64 entries of 256 B):
 * msgpackr (chosen), JSON with base64 bytes, and node's v8 structured serialisation.
 * Run: node --import tsx scripts/bench-codec.ts
 */
import { serialize, deserialize } from 'node:v8';
import { performance } from 'node:perf_hooks';
import { decodePeerFrame, encodePeerFrame } from '../src/transport/index.ts';
import type { PeerFrame } from '../src/transport/index.ts';

const entryCount = 64;
const valueBytes = 256;
const rounds = 5_000;

const frame: PeerFrame = {
  kind: 'raft',
  message: {
    type: 'app', from: 1, to: 2, term: 5, logTerm: 5, index: 1000, commit: 999, reject: false, rejectHint: 0,
    entries: Array.from({ length: entryCount }, (_, i) => ({
      index: 1001 + i, term: 5, type: 'normal' as const, data: new Uint8Array(valueBytes).fill(i),
    })),
  },
};

function json(value: PeerFrame): Uint8Array {
  return Buffer.from(JSON.stringify(value, (_k, v: unknown) =>
    (v instanceof Uint8Array ? { b64: Buffer.from(v).toString('base64') } : v)));
}
function unjson(bytes: Uint8Array): unknown {
  return JSON.parse(Buffer.from(bytes).toString('utf8'), (_k, v: unknown) =>
    (typeof v === 'object' && v !== null && 'b64' in v ? Buffer.from(String((v as { b64: string }).b64), 'base64') : v));
}

const candidates: Array<[string, (f: PeerFrame) => Uint8Array, (b: Uint8Array) => unknown]> = [
  ['msgpackr (checked decode)', encodePeerFrame, decodePeerFrame],
  ['JSON + base64', json, unjson],
  ['v8 serialize', (f) => serialize(f), (b): unknown => deserialize(b) as unknown],
];

for (const [name, encode, decode] of candidates) {
  const size = encode(frame).length;
  const start = performance.now();
  for (let i = 0; i < rounds; i++) decode(encode(frame));
  const ms = performance.now() - start;
  const perSec = Math.round(rounds / (ms / 1000));
  console.log(JSON.stringify({ codec: name, frameBytes: size, roundTripsPerSec: perSec, entriesPerSec: perSec * entryCount }));
}
