/**
 * Randomness as an injected seam. Deterministic code (the Raft core, the simulator) takes a Random
 * and never calls Math.random, so one seed replays one run exactly.
 */
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

export interface Random {
  /** A uniformly distributed integer in [min, max], both inclusive. */
  int(min: number, max: number): number;
  /** True with the given probability (0 ≤ probability ≤ 1). */
  chance(probability: number): boolean;
}

/** A fast, well-studied PRNG (xoroshiro128+) from pure-rand; the same seed gives the same sequence. */
export function seededRandom(seed: number): Random {
  const generator = xoroshiro128plus(seed);
  // The resolution of chance(): probabilities are rounded to a multiple of 1 / chanceSteps.
  const chanceSteps = 1_000_000;
  return {
    int(min: number, max: number): number {
      if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min > max) {
        throw new RangeError(`random int range [${min}, ${max}] is not a valid integer range`);
      }
      return uniformInt(generator, min, max);
    },
    chance(probability: number): boolean {
      if (!(probability >= 0 && probability <= 1)) {
        throw new RangeError(`probability ${probability} is outside [0, 1]`);
      }
      return uniformInt(generator, 0, chanceSteps - 1) < probability * chanceSteps;
    },
  };
}
