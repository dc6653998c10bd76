/**
 * The program `coffer exec` runs. It starts with the values in its environment, in a process group of
 * its own: exec passes on the signals it receives to that group, so Ctrl-C or a service manager's
 * SIGTERM reaches the program and whatever it started, once. A restart is graceful: the stop signal to
 * the group, then SIGKILL if it has not exited within the grace period, then the new program.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:os';

/** How the program ended on its own (not stopped for a restart). */
export type ProgramEnd = { status: number } | { error: Error };

export interface ProgramOptions {
  command: string;
  args: readonly string[];
  /** The environment the values are added to (exec's own, less Coffer's credentials). */
  baseEnv: Readonly<Record<string, string | undefined>>;
  stopSignal: NodeJS.Signals;
  graceMs: number;
}

export class Program {
  /** Resolves when the program ends by itself, or cannot be started. */
  readonly ended: Promise<ProgramEnd>;
  private end: (how: ProgramEnd) => void = () => undefined;
  private child: ChildProcess | undefined;

  constructor(private readonly options: ProgramOptions) {
    this.ended = new Promise((resolve) => { this.end = resolve; });
  }

  start(variables: ReadonlyMap<string, string>): void {
    const child = spawn(this.options.command, this.options.args, {
      env: { ...this.options.baseEnv, ...Object.fromEntries(variables) }, stdio: 'inherit', detached: true,
    });
    this.child = child;
    child.once('error', (error) => { if (this.child === child) this.end({ error }); });
    child.once('exit', (code, signal) => {
      if (this.child !== child) return; // stopped for a restart
      this.end({ status: code ?? 128 + (signal === null ? 0 : constants.signals[signal]) });
    });
  }

  /** Stops the program (stop signal, SIGKILL after the grace period) and starts it with the new values. */
  async restart(variables: ReadonlyMap<string, string>): Promise<void> {
    await this.stop();
    this.start(variables);
  }

  /** Sends `signal` to the program's process group, if it runs. */
  signal(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (pid === undefined || this.child?.exitCode !== null || this.child.signalCode !== null) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // it exited between the check and the signal
    }
  }

  /** Stops the program the way a restart does; its end is not reported through `ended`. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(-(child.pid as number), signal);
      } catch {
        // already gone
      }
    };
    kill(this.options.stopSignal);
    const timer = setTimeout(() => kill('SIGKILL'), this.options.graceMs);
    await exited;
    clearTimeout(timer);
  }
}
