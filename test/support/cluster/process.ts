/**
 * One member's OS process: spawned with its output appended to a log file (kept across restarts),
 * killed with SIGKILL, paused with SIGSTOP, resumed with SIGCONT, stopped with SIGTERM.
 *
 * Every child is SIGKILLed when the test process exits, so a failed test leaves no member running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, writeSync } from 'node:fs';

const live = new Set<ChildProcess>();
const killAll = (): void => {
  for (const child of live) child.kill('SIGKILL');
};
process.once('exit', killAll);
// A signal does not run 'exit' handlers: when nobody else handles it (the test runner stopping a test
// file), kill the members and exit as the signal would have. A script with its own handler (npm run
// cluster stops members gracefully) is left to do so.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  const onSignal = (): void => {
    if (process.listenerCount(signal) > 1) return;
    killAll();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  process.on(signal, onSignal);
}

export interface Spawn {
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export class MemberProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<number | string> = Promise.resolve('not started');
  private pausedFlag = false;

  constructor(readonly name: string, readonly logFile: string) {}

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get paused(): boolean {
    return this.pausedFlag;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves with the exit code or signal once the current process has exited. */
  get exited(): Promise<number | string> {
    return this.exitPromise;
  }

  start(spec: Spawn): void {
    if (this.running) throw new Error(`member ${this.name} is already running`);
    const log = openSync(this.logFile, 'a');
    writeSync(log, `\n=== ${new Date().toISOString()} start: ${spec.command} ${spec.args.join(' ')}\n`);
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd, env: spec.env ?? process.env, stdio: ['ignore', log, log], detached: false,
    });
    closeSync(log);
    this.child = child;
    this.pausedFlag = false;
    live.add(child);
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        resolve(code ?? signal ?? 'unknown');
      });
    });
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGKILL');
    this.pausedFlag = false;
    await this.exitPromise;
  }

  pause(): void {
    if (!this.running) throw new Error(`member ${this.name} is not running`);
    this.child?.kill('SIGSTOP');
    this.pausedFlag = true;
  }

  resume(): void {
    if (!this.running) return;
    this.child?.kill('SIGCONT');
    this.pausedFlag = false;
  }

  /** SIGTERM (after SIGCONT, so a paused member can act on it), SIGKILL if it has not exited in time. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.resume();
    this.child?.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }
}
