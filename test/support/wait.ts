/**
 * Waiting on a condition in tests, never sleeping as synchronisation — the one helper every test
 * uses. `probe` is called until it returns something other than undefined or false (a boolean
 * condition, or a value still being looked for), and the wait resolves with that; past the timeout it
 * fails with a message naming what did not happen.
 */

/** How often a probe is asked by default: cheap enough for probes that read files or call a member. */
const pollIntervalMsDefault = 50;

export interface WaitOptions {
  /** Appended to the failure message: the state that explains why the wait failed. */
  detail?: () => string;
  /** Milliseconds between two probes (in-process probes may ask more often). */
  pollMs?: number;
}

/** Resolves with the first value of `probe()` that is neither undefined nor false; rejects with "<what>: not within <timeoutMs> ms" otherwise. */
export async function waitUntil<T>(
  probe: () => T | Promise<T>, timeoutMs: number, what: string, options: WaitOptions = {},
): Promise<Exclude<T, undefined | false>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value as Exclude<T, undefined | false>;
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms${options.detail === undefined ? '' : ` (${options.detail()})`}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? pollIntervalMsDefault));
  }
}
