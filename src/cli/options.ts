/**
 * Option parsers and output formats shared by commands. Parsers throw commander's
 * InvalidArgumentError, which commander reports as one line naming the option and the value.
 */
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
