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

/**
 * A fast, well-studied PRNG (xoroshiro128+) from pure-rand; the same seed gives the same sequence.
 * The seed is first spread over 32 bits (murmur3's finaliser): xoroshiro128+ seeded with small
 * consecutive integers gives correlated first draws (the second draw of seeds 1, 2, 3… is nearly always
 * the same), and callers seed with exactly such numbers (simulator runs, member ids in tests).
 */
export function seededRandom(seed: number): Random {
  const generator = xoroshiro128plus(spreadSeed(seed));
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

function spreadSeed(seed: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) | 0;
}
