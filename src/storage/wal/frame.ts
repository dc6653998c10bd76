/**
 * Record framing, shared by segment and snapshot files:
 *
 *   u32 bodyLength | u32 ~bodyLength | u32 crc32(body) | body
 *   body = u8 record type | u64 index | sealed page
 *
 * The checksum (zlib crc32) covers the whole body, so a torn or flipped frame is caught before any
 * decryption; the seal then authenticates the content and its position. The length is stored with its
 * complement so that a flipped length bit is seen as corruption rather than mistaken for a frame
 * running past the end of the file.
 *
 * Scanning tells a torn tail (a crash mid-write: a partial header followed only by zeros, a frame
 * whose trusted length runs past the end, a last frame that fails its checksum and is followed by
 * nothing but zeros, or a bad frame holding a whole sector of zeros) from corruption (anything
 * else), which must stop the member. The zeros are a power cut's: the unsynced end of a file may keep
 * later sectors and lose (the unsynced part of) earlier ones, which then read as zeros, and nothing after such a hole
 * was ever synced (an fdatasync covers the whole file) — as in etcd's WAL (isTornEntry). A flipped bit
 * in the very last frame of the last file is indistinguishable from a torn write and is truncated,
 * as in etcd's WAL. The segment being written is kept longer than its frames (zeros past them, see
 * durable/preallocate.ts): scanned after a crash, it ends in that tail of zeros, which reads as a torn
 * tail at the end of the last frame and is cut by recovery like one.
 */
import { crc32 } from 'node:zlib';
import { pageOverheadBytes } from '../../crypto/index.ts';
import { walRecordBytesMax } from '../../config/index.ts';
import { readU64, writeU64 } from './codec.ts';

export const frameHeaderBytes = 12;
/** The smallest unit a disk writes whole; a power cut loses unsynced data in whole sectors. */
export const sectorBytes = 512;
export const bodyHeaderBytes = 1 + 8;
const bodyBytesMin = bodyHeaderBytes + pageOverheadBytes;

export function encodeFrame(type: number, index: number, sealed: Uint8Array): Uint8Array {
  const frame = new Uint8Array(frameHeaderBytes + bodyHeaderBytes + sealed.length);
  const view = new DataView(frame.buffer);
  const bodyLength = bodyHeaderBytes + sealed.length;
  view.setUint32(0, bodyLength);
  view.setUint32(4, ~bodyLength >>> 0);
  view.setUint8(frameHeaderBytes, type);
  writeU64(view, frameHeaderBytes + 1, index);
  frame.set(sealed, frameHeaderBytes + bodyHeaderBytes);
  view.setUint32(8, crc32(frame.subarray(frameHeaderBytes)));
  return frame;
}

export interface ScannedFrame {
  offset: number;
  /** Total bytes of the frame, header included. */
  length: number;
  type: number;
  index: number;
  sealed: Uint8Array;
}

export type ScanEnd =
  | { kind: 'clean' }
  | { kind: 'torn'; offset: number; reason: string }
  | { kind: 'corrupt'; offset: number; reason: string };

/** Walks the frames of `bytes`, calling `onFrame` for each intact one, and says how the file ends. */
export function scanFrames(bytes: Uint8Array, onFrame: (frame: ScannedFrame) => void): ScanEnd {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset < bytes.length) {
    const remaining = bytes.length - offset;
    if (remaining < frameHeaderBytes) return { kind: 'torn', offset, reason: `${remaining} bytes, less than a frame header` };
    const bodyLength = view.getUint32(offset);
    if (view.getUint32(offset + 4) !== (~bodyLength >>> 0)) {
      // Nothing after the header (at the end of the file, or of the data in a preallocated one): its write was cut short.
      if (allZero(bytes, offset + frameHeaderBytes, bytes.length)) return { kind: 'torn', offset, reason: 'a partial frame header followed by zeros' };
      if (holdsZeroSector(bytes, offset, offset + frameHeaderBytes)) return { kind: 'torn', offset, reason: 'a frame header in a sector of zeros' };
      return { kind: 'corrupt', offset, reason: `frame length ${bodyLength} does not match its guard` };
    }
    if (bodyLength < bodyBytesMin || bodyLength > walRecordBytesMax + bodyHeaderBytes) {
      if (holdsZeroSector(bytes, offset, offset + frameHeaderBytes)) return { kind: 'torn', offset, reason: 'a frame header in a sector of zeros' };
      return { kind: 'corrupt', offset, reason: `frame length ${bodyLength} is outside [${bodyBytesMin}, ${walRecordBytesMax + bodyHeaderBytes}]` };
    }
    const end = offset + frameHeaderBytes + bodyLength;
    if (end > bytes.length) return { kind: 'torn', offset, reason: `frame of ${bodyLength} bytes runs past the end` };
    const body = bytes.subarray(offset + frameHeaderBytes, end);
    if (crc32(body) !== view.getUint32(offset + 8)) {
      // Followed by nothing, or only by the zeros of a preallocated tail (durable/preallocate.ts): the last frame.
      if (allZero(bytes, end, bytes.length)) return { kind: 'torn', offset, reason: 'the last frame fails its checksum' };
      if (holdsZeroSector(bytes, offset, end)) return { kind: 'torn', offset, reason: 'a frame with a sector of zeros' };
      return { kind: 'corrupt', offset, reason: 'checksum mismatch' };
    }
    onFrame({
      offset,
      length: end - offset,
      type: body[0]!,
      index: readU64(new DataView(body.buffer, body.byteOffset, body.byteLength), 1),
      sealed: body.subarray(bodyHeaderBytes),
    });
    offset = end;
  }
  return { kind: 'clean' };
}

function allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Whether a piece of [from, to) cut at sector boundaries is all zeros (etcd's isTornEntry): the part of
 * a sector a power cut lost reads as zeros to the sector's end, whatever the sector held before it.
 */
function holdsZeroSector(bytes: Uint8Array, from: number, to: number): boolean {
  const end = Math.min(to, bytes.length);
  for (let start = from; start < end;) {
    const next = Math.min(end, (Math.floor(start / sectorBytes) + 1) * sectorBytes);
    if (allZero(bytes, start, next)) return true;
    start = next;
  }
  return false;
}
