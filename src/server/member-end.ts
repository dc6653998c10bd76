/**
 * A member that cannot go on: its replica fail-stopped on a WAL or store failure, or it learned it was
 * removed from the cluster. It says so once in the log; the member shows `failStop()` / `removal()` on
 * /livez, in status errors and in metrics; and `exit` resolves with the process's exit code once the
 * grace period (config.exitGraceMs) is over, so probes, scrapes and `coffer status` see why first:
 * 70 after a fail-stop, 0 after a removal, never after a removal with config.stayWhenRemoved.
 * docs/operations.md says what the operator does next in each case.
 */
import { realClock, type TimerHandle } from '../base/index.ts';

export interface MemberEndOptions {
  member: string;
  exitGraceMs: number;
  stayWhenRemoved: boolean;
  log: { warn: (fields: object, message: string) => void; fatal: (fields: object, message: string) => void };
}

export class MemberEnd {
  /** Resolves with the exit code once the member cannot go on and its grace period is over. */
  readonly exit: Promise<number>;
  private exitWith: (code: number) => void = () => undefined;
  private timer: TimerHandle | undefined;
  private failStopError: Error | undefined;
  private removedFlag = false;
  private readonly graceText: string;

  constructor(private readonly options: MemberEndOptions) {
    this.exit = new Promise<number>((resolve) => { this.exitWith = resolve; });
    this.graceText = `the process exits in ${Math.round(options.exitGraceMs / 1000)} s`;
  }

  get failStopped(): boolean {
    return this.failStopError !== undefined;
  }

  get removed(): boolean {
    return this.removedFlag;
  }

  /** The replica stopped on an error it cannot carry on from. */
  replicaStopped(error: Error): void {
    if (this.failStopError !== undefined) return;
    this.failStopError = error;
    this.options.log.fatal({ reason: error.message },
      `the member stopped (fail-stop): its WAL or store could not be written or trusted; ${this.graceText} with code 70. Fix the disk, then start it again (docs/operations.md)`);
    this.exitAfterGrace(70);
  }

  /** The member applied its own removal (or found it in its store at start). */
  removedFromCluster(): void {
    if (this.removedFlag) return;
    this.removedFlag = true;
    const member = this.options.member;
    if (this.options.stayWhenRemoved) {
      this.options.log.warn({ member }, 'this member was removed from the cluster; it keeps running for inspection (--stay-when-removed) and serves nothing');
      return;
    }
    this.options.log.warn({ member }, `this member was removed from the cluster; ${this.graceText} (--stay-when-removed keeps it running for inspection)`);
    this.exitAfterGrace(0);
  }

  /** Why the member stopped, for /livez and status errors; undefined while it runs. */
  failStop(): string | undefined {
    return this.failStopError === undefined ? undefined : `the member stopped (fail-stop): ${this.failStopError.message}; ${this.graceText}`;
  }

  /** That the member was removed and will exit, for /livez; undefined otherwise (and while it stays for inspection). */
  removal(): string | undefined {
    return this.removedFlag && !this.options.stayWhenRemoved ? `this member was removed from the cluster; ${this.graceText}` : undefined;
  }

  /** Cancels a pending exit (the member is stopping anyway). */
  close(): void {
    this.timer?.cancel();
  }

  private exitAfterGrace(code: number): void {
    this.timer ??= realClock.setTimer(this.options.exitGraceMs, () => this.exitWith(code));
  }
}
