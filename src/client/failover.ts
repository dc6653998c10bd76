/**
 * The clients' failover loop: try the endpoints in turn, starting at the one that answered last, and
 * move on only when the attempt's error allows it (the transports' rule: a request that was certainly
 * never sent, or an idempotent one). Stops at the deadline, if one is given.
 */
import { assert } from '../base/index.ts';
import { ClientError } from './errors.ts';

export interface FailoverOptions {
  /** Index of the endpoint to try first. */
  start: number;
  /** Epoch ms after which no further endpoint is tried. */
  deadline?: number;
  /** Whether a failed attempt may be followed by one on the next endpoint. */
  retryable: (error: ClientError) => boolean;
  /** The error when no endpoint answered and no attempt's error was kept (the deadline passed first). */
  exhausted: () => ClientError;
}

/** The first answer and the index of the endpoint that gave it; the last retryable error otherwise. */
export async function firstAnswer<T>(
  endpoints: readonly string[], attempt: (endpoint: string) => Promise<T>, options: FailoverOptions,
): Promise<{ value: T; index: number }> {
  let last: ClientError | undefined;
  for (let n = 0; n < endpoints.length; n++) {
    const index = (options.start + n) % endpoints.length;
    if (options.deadline !== undefined && Date.now() >= options.deadline) break;
    try {
      return { value: await attempt(endpoints[index] as string), index };
    } catch (error) {
      assert(error instanceof ClientError, 'a transport attempt rejects only with ClientError');
      if (!options.retryable(error)) throw error;
      last = error;
    }
  }
  throw last ?? options.exhausted();
}
