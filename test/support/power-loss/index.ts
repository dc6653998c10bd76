/**
 * test/support/power-loss — a simulated disk with power-loss semantics (the LazyFS model: what was not
 * fsynced may be lost, reordered or torn; a name is durable only once its directory is fsynced), the
 * DurableFs a process sees over it, and the simulator's LevelDB (memory-level with a log on that
 * disk). The replica host of the simulator (test/sim/replica) runs the production member over them;
 * focused tests use them to cut the power at a chosen point (atOnce: operations complete on the real
 * event loop, no simulated time).
 */
import { type Clock, realClock, seededRandom } from '../../../src/base/index.ts';
import type { PowerLossDisk } from './disk.ts';
import { SimFs, type SimFsHost } from './sim-fs.ts';

export { type FileNode, fsError, PowerLossDisk, type PowerLossReport, sectorBytes } from './disk.ts';
export { type FsMutation, type InjectedError, SimFs, type SimFsHost } from './sim-fs.ts';
export { decodeLog, logFileName, PowerLossLevel } from './level.ts';

/**
 * A process over `disk` whose operations complete one event-loop turn after they are issued (no
 * simulated time), with a real clock; `fault` may fail its writes and fdatasyncs (ENOSPC, EIO). `kill()` ends the process: its pending operations never
 * complete and its timers and deferred work never run.
 */
export function processOn(
  disk: PowerLossDisk, seed = 1, fault?: SimFsHost['fault'],
): { fs: SimFs; clock: Clock; kill(): void } {
  let alive = true;
  const clock: Clock = {
    nowMs: () => realClock.nowMs(),
    setTimer: (delayMs, callback) => realClock.setTimer(delayMs, () => {
      if (alive) callback();
    }),
    defer: (callback) => realClock.defer(() => {
      if (alive) callback();
    }),
  };
  const fs = new SimFs(disk, {
    after: (_delayUs, run) => setImmediate(() => {
      if (alive) run();
    }),
    alive: () => alive,
    random: seededRandom(seed),
    ...(fault !== undefined ? { fault } : {}),
  });
  return { fs, clock, kill: () => { alive = false; } };
}
