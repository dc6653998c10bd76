/**
 * 24-byte XChaCha20 nonces from node:crypto, drawn in batches: one randomFillSync per
 * `nonceBatchCount` seals, because libsodium's randombytes_buf costs ~0.1 ms a call in this build.
 * Random 192-bit nonces never need coordination between members or restarts.
 */
import { randomFillSync } from 'node:crypto';
import { nonceBatchCount } from '../config/index.ts';

export const nonceBytes = 24;

export class NoncePool {
  private readonly pool = new Uint8Array(nonceBytes * nonceBatchCount);
  // Invariant: bytes before `next` have been handed out and are never handed out again.
  private next = this.pool.length;

  /** Writes a fresh nonce into `target` at `offset`. */
  take(target: Uint8Array, offset: number): void {
    if (this.next === this.pool.length) {
      randomFillSync(this.pool);
      this.next = 0;
    }
    target.set(this.pool.subarray(this.next, this.next + nonceBytes), offset);
    // Clear what was handed out so a nonce is never reused even if the refill were skipped.
    this.pool.fill(0, this.next, this.next + nonceBytes);
    this.next += nonceBytes;
  }
}
