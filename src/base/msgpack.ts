/**
 * The one msgpack configuration of Coffer. Everything Coffer encodes with msgpack — WAL state
 * records and snapshot markers, the Raft commands inside WAL entries, MVCC pages, backup and
 * snapshot-stream records, peer frames — is plain msgpack: maps with string keys, arrays, byte
 * strings as bin, integers in the smallest int form and other numbers as float64.
 *
 * Invariant: the WAL, the MVCC store and backups keep these bytes on disk, so every option that
 * decides them is pinned here rather than left to a msgpackr default; a library upgrade that changes
 * the bytes fails test/unit/format/golden-bytes.test.ts, and files an earlier Coffer wrote must keep
 * decoding (test/unit/format/persisted-format.test.ts). Changing an option here changes the format.
 */
import { FLOAT32_OPTIONS, Packr, Unpackr } from 'msgpackr';

const packr = new Packr({
  // No record extension or shared structures: the bytes of a value never depend on earlier values.
  useRecords: false,
  structuredClone: false,
  // Typed arrays are bin, never a typed-array extension; strings are written in place, not bundled.
  moreTypes: false,
  bundleStrings: false,
  // Every map header is map16 (0xde) whatever the key count, as msgpackr has written since the start.
  variableMapSize: false,
  // Non-integers are always float64; undefined stays msgpack's undefined extension, not nil.
  useFloat32: FLOAT32_OPTIONS.NEVER,
  encodeUndefinedAsNil: false,
});

// Maps decode to plain objects; byte strings decode as views of the input (no copy).
const viewUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
// The same, but byte strings decode as copies, so the input (plaintext) can be wiped at once.
const copyUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

/**
 * Encodes a value. The result is a region of the encoder's shared buffer: valid until the caller
 * drops it (later encodings never write over it), and wiping it wipes only this value.
 */
export function encodeMsgpack(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decodes one value; byte strings in it are views of `bytes`. Throws msgpackr's error on malformed input. */
export function decodeMsgpack(bytes: Uint8Array): unknown {
  return viewUnpackr.unpack(bytes);
}

/** Decodes one value whose byte strings are copies, so `bytes` may be wiped while they live on. */
export function decodeMsgpackCopy(bytes: Uint8Array): unknown {
  return copyUnpackr.unpack(bytes);
}
