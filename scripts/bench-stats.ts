/**
 * The arithmetic the benches print their figures with: a quantile of sorted latencies and the rounding
 * of a figure to a fixed number of decimals, the same in every bench.
 */

/** `x` rounded to `decimals` places. */
export function rounded(x: number, decimals = 3): number {
  const scale = 10 ** decimals;
  return Math.round(x * scale) / scale;
}

/** The `p` quantile (0 – 1) of `sorted` (ascending): the value at rank floor(p × n), the last for p = 1; 0 when empty. */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}
