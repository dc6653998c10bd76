/**
 * gRPC's length-prefixed messages on an HTTP/2 stream: one flag byte (compressed or not), a 4-byte
 * big-endian length, the message. Coffer does not compress (it announces no grpc-encoding, so clients
 * send uncompressed messages); a compressed or oversized message is refused, and the limit is
 * requestBodyBytesMax, the same as for any request body of the client API.
 */
import { CofferError } from '../base/index.ts';
import { requestBodyBytesMax } from '../config/index.ts';
import { WireError } from './errors.ts';

const prefixBytes = 5;

export function frame(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(prefixBytes + message.length);
  framed.writeUInt8(0, 0);
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, prefixBytes);
  return framed;
}

/** The message too large for Coffer (requestBodyBytesMax); etcd's words, which clients match. */
export class MessageTooLargeError extends CofferError {
  readonly code = 'E_TOO_LARGE';
  constructor() {
    super('etcdserver: request is too large');
  }
}

/**
 * Splits a byte stream into messages, as chunks arrive. Linear in the bytes pushed however they are cut:
 * a message in progress is copied into a buffer that grows by doubling (up to its declared length, so a
 * 5-byte prefix claiming requestBodyBytesMax holds nothing yet), never concatenated anew per chunk — a
 * message sent one byte per HTTP/2 DATA frame cost the member quadratic time on its event loop.
 */
export class FrameReader {
  /** The prefix of the message in progress, while fewer than prefixBytes have arrived. */
  private readonly prefix = Buffer.alloc(prefixBytes);
  private prefixFilled = 0;
  /** The declared length of the message in progress, once its prefix is whole. */
  private length: number | undefined;
  private body: Buffer = Buffer.alloc(0);
  private bodyFilled = 0;

  /** The whole messages completed by `chunk`. */
  push(chunk: Buffer): Uint8Array[] {
    const messages: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.length === undefined) {
        const taken = Math.min(prefixBytes - this.prefixFilled, chunk.length - at);
        chunk.copy(this.prefix, this.prefixFilled, at, at + taken);
        this.prefixFilled += taken;
        at += taken;
        if (this.prefixFilled < prefixBytes) break;
        this.length = this.declaredLength();
        // A message whole in this chunk is handed on without a copy.
        if (chunk.length - at >= this.length) {
          messages.push(chunk.subarray(at, at + this.length));
          at += this.length;
          this.reset();
          continue;
        }
      }
      const taken = Math.min(this.length - this.bodyFilled, chunk.length - at);
      this.reserve(this.bodyFilled + taken);
      chunk.copy(this.body, this.bodyFilled, at, at + taken);
      this.bodyFilled += taken;
      at += taken;
      if (this.bodyFilled === this.length) {
        messages.push(this.body.subarray(0, this.length));
        this.reset();
      }
    }
    return messages;
  }

  /** True when no partial message is waiting (a stream may end here). */
  get idle(): boolean {
    return this.prefixFilled === 0;
  }

  private declaredLength(): number {
    if (this.prefix.readUInt8(0) !== 0) throw new WireError('message', 'is compressed; Coffer accepts uncompressed messages only');
    const length = this.prefix.readUInt32BE(1);
    if (length > requestBodyBytesMax) throw new MessageTooLargeError();
    return length;
  }

  /** Room for `bytes` of the message in progress: at least double the last room, at most its declared length. */
  private reserve(bytes: number): void {
    if (bytes <= this.body.length) return;
    const grown = Buffer.allocUnsafe(Math.min(this.length!, Math.max(bytes, this.body.length * 2)));
    this.body.copy(grown, 0, 0, this.bodyFilled);
    this.body = grown;
  }

  private reset(): void {
    this.prefixFilled = 0;
    this.length = undefined;
    this.body = Buffer.alloc(0);
    this.bodyFilled = 0;
  }
}

/** The one message of a unary call's body. */
export function singleMessage(body: Buffer): Uint8Array {
  const reader = new FrameReader();
  const messages = reader.push(body);
  if (messages.length !== 1 || !reader.idle) throw new WireError('body', 'must hold exactly one gRPC message');
  return messages[0]!;
}
