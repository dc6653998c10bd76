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

/** Splits a byte stream into messages, as chunks arrive. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);

  /** The whole messages completed by `chunk`. */
  push(chunk: Buffer): Uint8Array[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const messages: Uint8Array[] = [];
    while (this.buffered.length >= prefixBytes) {
      if (this.buffered.readUInt8(0) !== 0) throw new WireError('message', 'is compressed; Coffer accepts uncompressed messages only');
      const length = this.buffered.readUInt32BE(1);
      if (length > requestBodyBytesMax) throw new MessageTooLargeError();
      if (this.buffered.length < prefixBytes + length) break;
      messages.push(this.buffered.subarray(prefixBytes, prefixBytes + length));
      this.buffered = this.buffered.subarray(prefixBytes + length);
    }
    return messages;
  }

  /** True when no partial message is waiting (a stream may end here). */
  get idle(): boolean {
    return this.buffered.length === 0;
  }
}

/** The one message of a unary call's body. */
export function singleMessage(body: Buffer): Uint8Array {
  const reader = new FrameReader();
  const messages = reader.push(body);
  if (messages.length !== 1 || !reader.idle) throw new WireError('body', 'must hold exactly one gRPC message');
  return messages[0]!;
}
