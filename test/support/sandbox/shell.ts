/**
 * A bash session in a network of its own: `unshare` gives it a fresh loopback, so commands that use
 * fixed ports (7443, 7444, …, as the README prints them) run verbatim without meeting another test's
 * members or a developer's `npm start`, and a PID namespace, so every process it started dies with it.
 * Needs Linux user and network namespaces (`unshare --user --net`) and `ip` to bring the loopback up.
 *
 * Commands run one at a time in the same shell — `export` carries over, as in a terminal — each with
 * its output in a file of its own. A long-running command (a server, "until Ctrl-C") runs as a
 * background job in its own process group; interrupt() sends it SIGINT, as Ctrl-C would.
 *
 * Invariant: nothing here sleeps to synchronise; completion is the shell's own marker line, readiness
 * a line in the job's output.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { delay } from '../cluster/index.ts';

export interface CommandResult {
  code: number;
  output: string;
}

export interface Job {
  id: number;
  command: string;
  /** Its pid inside the session (its process group id too). */
  pid: number;
  logFile: string;
}

const pollMs = 100;

export class IsolatedShell {
  private counter = 0;
  private stdout = '';
  private waiters: (() => void)[] = [];
  private readonly logDir: string;

  private constructor(private readonly child: ChildProcessWithoutNullStreams, readonly cwd: string) {
    this.logDir = join(cwd, '.sandbox-logs');
    child.stdout.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString();
      for (const wake of this.waiters.splice(0)) wake();
    });
    child.on('exit', () => { for (const wake of this.waiters.splice(0)) wake(); });
  }

  /** A session in `cwd` with `env` (PATH and HOME as given), its loopback up. */
  static async open(cwd: string, env: NodeJS.ProcessEnv): Promise<IsolatedShell> {
    const child = spawn('unshare', ['--user', '--map-root-user', '--net', '--fork', '--pid', '--mount-proc', '--kill-child', 'bash', '--norc', '--noprofile'],
      { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const shell = new IsolatedShell(child, cwd);
    await mkdir(shell.logDir, { recursive: true });
    const up = await shell.run('set -m; ip link set lo up', 30_000);
    if (up.code !== 0) throw new Error(`the isolated shell could not bring its loopback up (unshare --user --net and ip are needed): ${up.output}`);
    return shell;
  }

  /** Runs `command` to its end; its exit status and everything it printed (stdout and stderr). */
  async run(command: string, timeoutMs: number): Promise<CommandResult> {
    const id = ++this.counter;
    const logFile = join(this.logDir, `${id}.log`);
    this.child.stdin.write(`{ ${command}\n} > ${logFile} 2>&1 < /dev/null; echo "__done_${id}:$?"\n`);
    const code = Number(await this.marker(`__done_${id}:`, timeoutMs, command));
    return { code, output: await readFile(logFile, 'utf8').catch(() => '') };
  }

  /** Starts `command` as a background job and resolves once its output matches `ready`; rejects if it ends first. */
  async start(command: string, ready: RegExp, timeoutMs: number): Promise<Job> {
    const id = ++this.counter;
    const logFile = join(this.logDir, `${id}.log`);
    this.child.stdin.write(`{ ${command}\n} > ${logFile} 2>&1 < /dev/null &\necho "__pid_${id}:$!"\n`);
    const job = { id, command, pid: Number(await this.marker(`__pid_${id}:`, 10_000, command)), logFile };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const output = await readFile(logFile, 'utf8').catch(() => '');
      if (ready.test(output)) return job;
      if ((await this.run(`kill -0 ${job.pid}`, 10_000)).code !== 0) throw new Error(`${command} ended before it was ready:\n${output}`);
      if (Date.now() > deadline) throw new Error(`${command} was not ready within ${timeoutMs} ms:\n${output}`);
      await delay(pollMs);
    }
  }

  /** Ctrl-C: SIGINT to the job's process group; resolves with its exit status and output once it has ended. */
  async interrupt(job: Job, timeoutMs: number): Promise<CommandResult> {
    const id = ++this.counter;
    this.child.stdin.write(`kill -INT -- -${job.pid}; wait ${job.pid}; echo "__done_${id}:$?"\n`);
    const code = Number(await this.marker(`__done_${id}:`, timeoutMs, `Ctrl-C of ${job.command}`));
    return { code, output: await readFile(job.logFile, 'utf8').catch(() => '') };
  }

  /** Ends the session; every process in it ends with it. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await once(this.child, 'exit');
    clearTimeout(timer);
  }

  /** The text after `prefix` on the line the shell printed it on. */
  private async marker(prefix: string, timeoutMs: number, what: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.stdout.indexOf(prefix);
      const end = at < 0 ? -1 : this.stdout.indexOf('\n', at);
      if (end >= 0) {
        const value = this.stdout.slice(at + prefix.length, end);
        this.stdout = this.stdout.slice(end + 1);
        return value;
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`the isolated shell ended while running: ${what}`);
      if (Date.now() > deadline) throw new Error(`no end of "${what}" within ${timeoutMs} ms`);
      const timer = setTimeout(() => { for (const wake of this.waiters.splice(0)) wake(); }, Math.max(0, deadline - Date.now()));
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      clearTimeout(timer);
    }
  }
}
