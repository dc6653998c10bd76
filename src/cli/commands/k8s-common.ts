/**
 * What the commands over the Kubernetes-shaped API share (secret, configmap, namespace, policy,
 * watch): connecting a K8sClient from the global flags, turning expected failures into one
 * `coffer: <message>` line, `-n/-A` handling, `--from-literal`/`--from-file` parsing, and AGE.
 *
 * Invariant: an error line carries the server's Status message or a message naming a key, file or
 * flag — never a value given with --from-literal or read with --from-file.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { bytesInWords, K8sClient, type K8sObject } from '../../client/index.ts';
import { cliFromFileBytesMax } from '../../config/index.ts';
import { type ConnectionOptions, connectionSettings } from '../connection.ts';
import { CliError, describeCode, expectedMessage } from '../errors.ts';
import type { CliIo } from '../io.ts';
import type { GlobalOptions } from '../options.ts';

export const defaultNamespace = 'default';

/** The annotation the server puts on a Secret whose data it left out for this caller. */
export const redactedAnnotation = 'coffer.dev/data-redacted';

export type K8sCommandOptions = GlobalOptions & ConnectionOptions;

/** The field manager metadata.managedFields names for the CLI's writes (kubectl's are `kubectl-create`, `kubectl-edit`…). */
export const cliFieldManager = 'coffer';

export async function connectK8s(options: ConnectionOptions, io: CliIo): Promise<K8sClient> {
  return new K8sClient({ ...await connectionSettings(options, io), fieldManager: cliFieldManager });
}

/**
 * Wraps a command action: an expected failure (errors.ts) ends as one `coffer: <message>` line on
 * stderr and exit status 1 (through commander, so run.ts sees a CommanderError). Anything else is a
 * bug and propagates to run.ts.
 */
export function k8sAction<A extends unknown[]>(action: (command: Command, ...args: A) => Promise<void>) {
  return async (...args: [...A, unknown, Command]): Promise<void> => {
    const command = args[args.length - 1] as Command;
    try {
      await action(command, ...(args.slice(0, -2) as A));
    } catch (error) {
      const message = expectedMessage(error);
      if (message === undefined) throw error;
      command.error(`coffer: ${message}`, { exitCode: 1, code: 'coffer.failed' });
    }
  };
}

/** `-n NS` (default `default`) or `-A` for every namespace; both together is a usage error. */
export function addNamespaceOptions(command: Command, allowAll: boolean): Command {
  command.option('-n, --namespace <namespace>', `the namespace (default "${defaultNamespace}")`);
  if (allowAll) command.option('-A, --all-namespaces', 'every namespace', false);
  return command;
}

export interface NamespaceFlags {
  namespace?: string;
  allNamespaces?: boolean;
}

/** The namespace to use, or undefined for every namespace (-A). */
export function namespaceOf(flags: NamespaceFlags): string | undefined {
  if (flags.allNamespaces === true) {
    if (flags.namespace !== undefined) throw new CliError('give either -n or -A, not both');
    return undefined;
  }
  return flags.namespace ?? defaultNamespace;
}

/** Repeatable option collector that keeps each value whole (values may contain commas). */
export function repeat(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * `key=value` of --from-literal; the value may contain `=`. Parsed in the action, not as a commander
 * argParser, because commander's error would echo the argument — which may be the value itself.
 */
export function parseLiteral(text: string): { key: string; value: string } {
  const at = text.indexOf('=');
  if (at <= 0) throw new CliError('--from-literal expects key=value (the key may not be empty)');
  return { key: text.slice(0, at), value: text.slice(at + 1) };
}

/** `key=path` or `path` (the key is then the file's name) of --from-file; `-` (standard input) needs a key. */
export function parseFileSource(text: string): { key: string; path: string } {
  const at = text.indexOf('=');
  if (at === 0) throw new CliError(`--from-file "${text}": the key before "=" may not be empty`);
  if (at > 0) {
    const path = text.slice(at + 1);
    if (path === '') throw new CliError(`--from-file "${text}": the path after "=" may not be empty`);
    return { key: text.slice(0, at), path };
  }
  if (text === stdinPath) throw new CliError('--from-file -: name the key the value from standard input goes to (--from-file KEY=-)');
  return { key: basename(text), path: text };
}

/** The --from-file path that means standard input; /dev/stdin is read the same way (it cannot be opened when stdin is a socket). */
const stdinPath = '-';
const stdinAliases: ReadonlySet<string> = new Set([stdinPath, '/dev/stdin']);

/**
 * The entries of --from-literal and --from-file as bytes, in the order given. A key given twice is
 * an error, as in kubectl. `-` (or /dev/stdin) reads standard input, at most once per command. The
 * caller owns the buffers and wipes them when done.
 */
export async function readSources(literals: readonly string[], files: readonly string[], stdin?: () => AsyncIterable<Uint8Array>): Promise<Map<string, Buffer>> {
  const sources = files.map(parseFileSource);
  if (sources.filter((s) => stdinAliases.has(s.path)).length > 1) {
    throw new CliError('--from-file reads standard input (- or /dev/stdin) at most once per command: it holds one value');
  }
  const entries = new Map<string, Buffer>();
  const add = (key: string, value: Buffer) => {
    if (entries.has(key)) {
      value.fill(0);
      wipeAll(entries);
      throw new CliError(`key ${JSON.stringify(key)} is given more than once`);
    }
    entries.set(key, value);
  };
  for (const literal of literals) {
    const { key, value } = parseLiteral(literal);
    add(key, Buffer.from(value, 'utf8'));
  }
  for (const { key, path } of sources) {
    const read = stdinAliases.has(path) ? readStdin(path, stdin) : readSourceFile(path);
    add(key, await read.catch((error: unknown) => {
      wipeAll(entries);
      throw error;
    }));
  }
  return entries;
}

const fromFileLimit = () => `the ${bytesInWords(cliFromFileBytesMax)} limit of --from-file`;

/**
 * A regular file (its size checked first), or a pipe or character device (`<(command)`, /dev/fd/N,
 * a FIFO) read up to the limit and one byte more, so an endless one is refused rather than held.
 */
async function readSourceFile(path: string): Promise<Buffer> {
  const cannot = (error: unknown) => new CliError(`cannot read ${JSON.stringify(path)}: ${describeCode(error) ?? 'unknown error'}`);
  let handle: FileHandle;
  try {
    // A named pipe's open waits for a writer, as `cat`'s does; a <(command) has one already.
    handle = await open(path, 'r');
  } catch (error) {
    throw cannot(error);
  }
  try {
    const info = await handle.stat().catch((error: unknown) => { throw cannot(error); });
    if (info.isFile()) {
      if (info.size > cliFromFileBytesMax) throw new CliError(`${JSON.stringify(path)} is ${bytesInWords(info.size)}, over ${fromFileLimit()}`);
    } else if (!info.isFIFO() && !info.isCharacterDevice()) {
      throw new CliError(`${JSON.stringify(path)} is not a file, a pipe or a character device`);
    }
    return await readBounded(path, async (into) => (await handle.read(into, 0, into.length, null)).bytesRead).catch((error: unknown) => {
      throw error instanceof CliError ? error : cannot(error);
    });
  } finally {
    await handle.close();
  }
}

/** Standard input, up to the limit and one byte more; each chunk wiped once copied. */
async function readStdin(path: string, stdin: (() => AsyncIterable<Uint8Array>) | undefined): Promise<Buffer> {
  if (stdin === undefined) throw new CliError(`--from-file ${path}: standard input cannot be read here`);
  const iterator = stdin()[Symbol.asyncIterator]();
  let pending: Uint8Array | undefined;
  try {
    return await readBounded(path, async (into) => {
      if (pending === undefined || pending.length === 0) {
        const next = await iterator.next();
        if (next.done === true) return 0;
        pending = next.value;
      }
      const n = Math.min(into.length, pending.length);
      into.set(pending.subarray(0, n));
      pending.subarray(0, n).fill(0);
      pending = pending.subarray(n);
      return n;
    });
  } finally {
    pending?.fill(0);
    // Stops reading (and lets the process exit) once the value is read or refused.
    await iterator.return?.();
  }
}

/** Reads with `read` until it returns 0; more than the --from-file limit is refused and what was read wiped. */
async function readBounded(path: string, read: (into: Buffer) => Promise<number>): Promise<Buffer> {
  const whole = Buffer.alloc(cliFromFileBytesMax + 1);
  try {
    let length = 0;
    for (;;) {
      const n = await read(whole.subarray(length));
      if (n === 0) break;
      length += n;
      if (length > cliFromFileBytesMax) throw new CliError(`${JSON.stringify(path)} holds more than ${fromFileLimit()}`);
    }
    return Buffer.from(whole.subarray(0, length));
  } finally {
    whole.fill(0);
  }
}

export function wipeAll(entries: Map<string, Buffer>): void {
  for (const value of entries.values()) value.fill(0);
}

/** kubectl's short AGE: 45s, 12m, 5h, 3d, 2y. */
export function age(creationTimestamp: string | undefined, nowMs: number): string {
  if (creationTimestamp === undefined) return '<unknown>';
  const created = Date.parse(creationTimestamp);
  if (Number.isNaN(created)) return '<unknown>';
  const seconds = Math.floor((nowMs - created) / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 60) return `${Math.max(0, seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (days < 365) return `${days}d`;
  return `${Math.floor(days / 365)}y`;
}

export function isRedacted(object: K8sObject): boolean {
  return object.metadata.annotations?.[redactedAnnotation] !== undefined;
}

/** The keys of a `data` (or `binaryData`) map, sorted; none when absent. */
export function keysOf(map: unknown): string[] {
  return typeof map === 'object' && map !== null && !Array.isArray(map) ? Object.keys(map).sort() : [];
}
