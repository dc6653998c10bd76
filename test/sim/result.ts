/** What every simulator run reports, whichever host ran it. */
import type { Counters } from './counters.ts';

export interface RunResult {
  seed: number;
  nodes: number;
  violation?: { kind: string; message: string };
  counters: Counters;
}
