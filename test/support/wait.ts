/**
 * Waiting on a condition in tests, never sleeping as synchronisation: the condition is polled every
 * pollIntervalMs until it holds, and the wait fails with a message naming what did not happen.
 */
const pollIntervalMs = 50;

/** Resolves once `condition()` holds; rejects with "<what>: not within <timeoutMs> ms" (plus `detail()`) otherwise. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${detail === undefined ? '' : ` (${detail()})`}`);
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
  }
}
