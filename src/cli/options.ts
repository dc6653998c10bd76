/**
 * Option parsers and output formats shared by commands. Parsers throw commander's
 * InvalidArgumentError, which commander reports as one line naming the option and the value.
 */
import { constants as osConstants } from 'node:os';
import { InvalidArgumentError } from 'commander';
import { stringify as toYaml } from 'yaml';

export type OutputFormat = 'json' | 'yaml' | 'table';

/** Flags declared on the root command (program.ts), read by commands with optsWithGlobals(). */
export interface GlobalOptions {
  output: OutputFormat;
}

export function parseOutputFormat(value: string): OutputFormat {
  if (value === 'json' || value === 'yaml' || value === 'table') return value;
  throw new InvalidArgumentError(`"${value}" is not one of json, yaml, table`);
}

export function parsePositiveInt(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  }
  return Number(value);
}

/** For repeatable options (`--group a --group b`); commas also separate values (`--host a,b`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  const values = value.split(',').map((v) => v.trim()).filter((v) => v !== '');
  return [...(previous ?? []), ...values];
}

/** Rows as an aligned text table with a header line. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function formatData(format: 'json' | 'yaml', value: unknown): string {
  return format === 'json' ? JSON.stringify(value, null, 2) + '\n' : toYaml(value);
}

const durationUnitsMs: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `10s`, `2m`, `1h`: a duration in milliseconds. */
export function parseDuration(value: string): number {
  const match = /^(\d{1,9})(ms|s|m|h)$/.exec(value);
  if (match === null) throw new InvalidArgumentError(`"${value}" is not a duration such as 500ms, 10s, 2m or 1h`);
  return Number(match[1]) * (durationUnitsMs[match[2] ?? 's'] ?? 1000);
}

/** `TERM` or `SIGTERM`: a signal this system knows. */
export function parseSignal(value: string): NodeJS.Signals {
  const name = (value.toUpperCase().startsWith('SIG') ? value.toUpperCase() : `SIG${value.toUpperCase()}`) as NodeJS.Signals;
  if (!(name in osConstants.signals) || name === 'SIGKILL' || name === 'SIGSTOP') {
    throw new InvalidArgumentError(`"${value}" is not a signal that can be sent to ask a program to act (TERM, INT, HUP, USR1, …)`);
  }
  return name;
}
