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
export { type FsMutation, type InjectedError, preallocatedOver, SimFs, type SimFsHost, syncedAppendOver } from './sim-fs.ts';
export { type AppendableFs, decodeLog, logFileName, PowerLossLevel } from './level.ts';

/**
 * A process over `disk` whose operations complete one event-loop turn after they are issued (no
 * simulated time), with a real clock; `fault` may fail its writes and fdatasyncs (ENOSPC, EIO). `kill()` ends the process: its pending operations never
 * complete and its timers and deferred work never run.
 */
export function processOn(
  disk: PowerLossDisk, seed = 1, fault?: SimFsHost['fault'], onMutation?: (process: { kill(): void }, ...mutation: Parameters<NonNullable<SimFsHost['onMutation']>>) => void,
): { fs: SimFs; clock: Clock; kill(): void; alive(): boolean } {
  let alive = true;
  const kill = () => { alive = false; };
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
    ...(onMutation !== undefined ? { onMutation: (op, path, phase) => onMutation({ kill }, op, path, phase) } : {}),
  });
  return { fs, clock, kill, alive: () => alive };
}

/**
 * A process that dies just before its first fdatasync of a file `matches`: what it wrote there is in
 * the page cache only — readable by the next process, lost in a power cut unless someone syncs it.
 */
export function processKilledBeforeSync(disk: PowerLossDisk, seed: number, matches: (path: string) => boolean): ReturnType<typeof processOn> {
  return processOn(disk, seed, undefined, (process, op, path, phase) => {
    if (op === 'datasync' && phase === 'before' && matches(path)) process.kill();
  });
}
