/**
 * Length-prefixed framing for the peer stream: each frame is a 4-byte big-endian payload length
 * followed by the payload. The decoder refuses a frame longer than the limit before buffering it, so a
 * peer cannot make a member allocate without bound.
 */
import { CofferError } from '../base/index.ts';
import { frameBytesMax } from '../config/index.ts';

const headerBytes = 4;

export class FrameTooLargeError extends CofferError {
  readonly code = 'E_FRAME_TOO_LARGE';
  constructor(readonly frameBytes: number, readonly limitBytes: number) {
    super(`peer frame of ${frameBytes} bytes exceeds frameBytesMax (${limitBytes} bytes)`);
  }
}

export function encodeFrame(payload: Uint8Array, limitBytes = frameBytesMax): Buffer {
  if (payload.length > limitBytes) throw new FrameTooLargeError(payload.length, limitBytes);
  const frame = Buffer.allocUnsafe(headerBytes + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, headerBytes);
  return frame;
}

/** Turns a byte stream cut at arbitrary points back into whole frames, in order. */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly limitBytes = frameBytesMax) {}

  /** Feeds a chunk; returns every frame the bytes so far complete. Throws FrameTooLargeError. */
  push(chunk: Uint8Array): Buffer[] {
    this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.pendingBytes += chunk.byteLength;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.pendingBytes < headerBytes) break;
      const head = this.peek(headerBytes);
      const length = head.readUInt32BE(0);
      if (length > this.limitBytes) throw new FrameTooLargeError(length, this.limitBytes);
      if (this.pendingBytes < headerBytes + length) break;
      const whole = this.take(headerBytes + length);
      frames.push(whole.subarray(headerBytes));
    }
    return frames;
  }

  /** Bytes received but not yet part of a whole frame. */
  bufferedBytes(): number {
    return this.pendingBytes;
  }

  private peek(bytes: number): Buffer {
    const first = this.pending[0];
    if (first && first.length >= bytes) return first;
    const joined = Buffer.concat(this.pending);
    this.pending = [joined];
    return joined;
  }

  private take(bytes: number): Buffer {
    const joined = this.peek(bytes);
    const taken = Buffer.from(joined.subarray(0, bytes));
    const rest = joined.subarray(bytes);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes -= bytes;
    return taken;
  }
}
