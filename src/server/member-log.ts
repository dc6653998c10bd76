/**
 * The member's log. The member logs through its client API's logger (fastify's pino, configured by
 * --log-level), which exists only once the APIs stage has built the app; the stages before it log
 * through this, attached to that logger then (member.ts). Until it is attached a line is dropped,
 * except a fatal one, which goes to stderr: a member that cannot start still says why.
 */
export interface Logger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  fatal(fields: object, message: string): void;
}

export class MemberLog implements Logger {
  private logger: Logger | undefined;

  /** From now on every line goes to `logger`. */
  attach(logger: Logger): void {
    this.logger = logger;
  }

  info(fields: object, message: string): void {
    this.logger?.info(fields, message);
  }

  warn(fields: object, message: string): void {
    this.logger?.warn(fields, message);
  }

  error(fields: object, message: string): void {
    this.logger?.error(fields, message);
  }

  fatal(fields: object, message: string): void {
    if (this.logger) this.logger.fatal(fields, message);
    else process.stderr.write(`${message}: ${JSON.stringify(fields)}\n`);
  }
}
