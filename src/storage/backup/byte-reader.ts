/**
 * Exact-length reads over a stream of byte chunks of any size (a file read stream, an HTTP body),
 * for the two length-framed formats of this folder. A read past the end says how much was missing,
 * so callers can tell a clean end between frames from a cut in the middle of one.
 */
export class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private buffered: Uint8Array[] = [];
  private bufferedBytes = 0;
  private ended = false;
  /** Bytes handed out so far (for error messages: where a file was cut). */
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Exactly `n` bytes; `undefined` at a clean end (no byte left); a short read returns the bytes there were. */
  async read(n: number): Promise<Uint8Array | undefined> {
    while (this.bufferedBytes < n && !this.ended) {
      const next = await this.iterator.next();
      if (next.done === true) {
        this.ended = true;
        break;
      }
      const chunk = next.value;
      if (chunk.length === 0) continue;
      this.buffered.push(chunk);
      this.bufferedBytes += chunk.length;
    }
    if (this.bufferedBytes === 0 && n > 0) return undefined;
    const take = Math.min(n, this.bufferedBytes);
    const out = new Uint8Array(take);
    let filled = 0;
    while (filled < take) {
      const head = this.buffered[0]!;
      const part = Math.min(head.length, take - filled);
      out.set(head.subarray(0, part), filled);
      filled += part;
      if (part === head.length) this.buffered.shift();
      else this.buffered[0] = head.subarray(part);
    }
    this.bufferedBytes -= take;
    this.offset += take;
    return out;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    if (this.bufferedBytes > 0) return false;
    const next = await this.read(1);
    if (next === undefined) return true;
    this.buffered.unshift(next);
    this.bufferedBytes += next.length;
    this.offset -= next.length;
    return false;
  }

  /** Stops the underlying stream (closes a file, aborts a response) when the caller gives up early. */
  async close(): Promise<void> {
    this.buffered = [];
    this.bufferedBytes = 0;
    if (!this.ended) {
      this.ended = true;
      await this.iterator.return?.();
    }
  }
}
