/**
 * A log line anyone who can reach a port can cause — a client certificate refused, a peer connection
 * refused — as many times as they open connections. The member writes at most `linesMax` of one kind per
 * `windowMs`; those beyond are counted and said in one line when the window ends, so a flood of them
 * costs the log a few lines, not one per connection (docs/security.md, "Connections").
 */
import { refusalLogLinesMax, refusalLogWindowMs } from '../config/index.ts';
import type { Logger } from './member-log.ts';

export interface SampledLogOptions {
  write: (fields: object, message: string) => void;
  message: string;
  linesMax: number;
  windowMs: number;
}

export class SampledLog {
  private written = 0;
  private leftOut = 0;
  private window: NodeJS.Timeout | undefined;

  constructor(private readonly options: SampledLogOptions) {}

  line(fields: object): void {
    const { write, message, linesMax, windowMs } = this.options;
    if (this.window === undefined) {
      this.window = setTimeout(() => this.endWindow(), windowMs);
      this.window.unref();
    }
    if (this.written < linesMax) {
      this.written++;
      write(fields, message);
    } else this.leftOut++;
  }

  private endWindow(): void {
    const { write, message, windowMs } = this.options;
    if (this.leftOut > 0) write({ leftOut: this.leftOut, windowMs }, `${message}: ${this.leftOut} more in ${windowMs / 1000} s, not logged one by one`);
    this.window = undefined;
    this.written = 0;
    this.leftOut = 0;
  }
}

/** The member's warning of a refusal anyone can cause by connecting: at most refusalLogLinesMax lines per refusalLogWindowMs. */
export function refusalLog(log: Logger, message: string): SampledLog {
  return new SampledLog({ write: (fields, line) => log.warn(fields, line), message, linesMax: refusalLogLinesMax, windowMs: refusalLogWindowMs });
}
