/**
 * Where a member's time goes during a bench run (docs/performance.md, "Profile"): the bench starts
 * each Coffer member with `--cpu-prof` and reads two things per measured run:
 *
 * - CPU per operation: the member process's user + system CPU (every thread: the event loop, libuv's
 *   pool doing fsync and file I/O, LevelDB's threads) from /proc/<pid>/stat at the start and end of
 *   the run, divided by the run's operations; and its read and write system calls per operation
 *   (/proc/<pid>/io: every socket, file and pipe), which a busy VM does not blur as it blurs CPU time.
 * - Shares of the event loop's busy time: V8 writes the profile when the member exits; the samples
 *   taken inside the run's window (the profile's clock is the monotonic clock process.hrtime reads)
 *   are attributed to an area by the nearest frame on their stack that has an owner — a file under
 *   src/ (by folder), or a library or node module of a known area (TLS and socket I/O, HTTP, seal,
 *   store). Frames
 *   without one (V8 builtins, node's streams, buffers and crypto bindings, msgpack) count for the
 *   frame that called them. Idle samples are left out; GC is shown on its own.
 *
 * Linux only (/proc); on another system the CPU per operation is reported as null.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend } from '../test/support/cluster/index.ts';

/** The areas a sample is attributed to, in the order the bench prints them. */
export const areas = ['TLS', 'HTTP', 'API', 'audit', 'Raft', 'WAL', 'durable', 'seal', 'store', 'GC', 'other'] as const;
export type Area = (typeof areas)[number];

/** Owners by the path of a file under src/; the first match wins. */
const srcAreas: [RegExp, Area][] = [
  [/\/src\/(raft|replication|transport)\//, 'Raft'],
  [/\/src\/storage\/wal\//, 'WAL'],
  // Group commit and fsync, shared by the WAL and the audit log: its batches run from I/O callbacks,
  // whose stacks do not say whose batch it is.
  [/\/src\/durable\//, 'durable'],
  [/\/src\/crypto\//, 'seal'],
  [/\/src\/audit\//, 'audit'],
  [/\/src\/storage\/mvcc\//, 'store'],
  [/\/src\/(api|registry|etcdpb)\//, 'API'],
];

/** Owners among node's modules and the libraries; any other frame passes the sample to its caller. */
const libraryAreas: [RegExp, Area][] = [
  // Every socket a member has is TLS (clients and peers), and node encrypts and decrypts in C++ under
  // the socket's own frames: socket I/O counts as TLS.
  [/^node:(_tls_|tls$|internal\/tls|net$|internal\/stream_base_commons$)/, 'TLS'],
  [/^node:(_http_|https?$|http2$|internal\/http)/, 'HTTP'],
  [/\/node_modules\/(fastify|@fastify|find-my-way|avvio|fast-json-stringify|secure-json-parse|light-my-request)\//, 'HTTP'],
  [/\/node_modules\/libsodium/, 'seal'],
  [/\/node_modules\/(classic-level|abstract-level|level-)/, 'store'],
];

/** The area that owns a frame of `url`, or undefined when the frame's caller decides. */
export function ownerOf(url: string): Area | undefined {
  if (url.includes('/src/') && !url.includes('/node_modules/')) return srcAreas.find(([re]) => re.test(url))?.[1] ?? 'other';
  return libraryAreas.find(([re]) => re.test(url))?.[1];
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

/** A V8 CPU profile as `--cpu-prof` writes it (times in microseconds of the monotonic clock). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Shares (summing to 1) of the busy samples between fromUs and toUs, and that busy time in ms. */
export function sharesOf(profile: CpuProfile, fromUs: number, toUs: number): { busyMs: number; shares: Record<Area, number> } {
  const areaOfNode = attribute(profile.nodes);
  const totals = Object.fromEntries(areas.map((a) => [a, 0])) as Record<Area, number>;
  let busyUs = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    // A sample stands for the time until the next one.
    const weight = profile.timeDeltas[i + 1] ?? 0;
    const area = areaOfNode.get(profile.samples[i]!);
    if (area === undefined) continue;
    totals[area] += weight;
    busyUs += weight;
  }
  for (const a of areas) totals[a] = busyUs === 0 ? 0 : totals[a] / busyUs;
  return { busyMs: busyUs / 1000, shares: totals };
}

/** The area of every node (undefined for idle), walking each stack from the root down once. */
function attribute(nodes: ProfileNode[]): Map<number, Area | undefined> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const result = new Map<number, Area | undefined>();
  const root = nodes[0];
  if (root === undefined) return result;
  // Depth first: a node without an owner of its own takes its caller's.
  const visit = (node: ProfileNode, inherited: Area | undefined): void => {
    const name = node.callFrame.functionName;
    let area = ownerOf(node.callFrame.url) ?? inherited;
    if (name === '(garbage collector)') area = 'GC';
    result.set(node.id, name === '(idle)' ? undefined : area ?? 'other');
    for (const child of node.children ?? []) {
      const c = byId.get(child);
      if (c !== undefined) visit(c, area);
    }
  };
  visit(root, undefined);
  return result;
}

/**
 * The backend, with every member started under `--cpu-prof`, its profiles written to dir/<name>/ at
 * exit: one per thread (tsx's module loader runs in a worker thread of its own), named by node
 * `CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile`.
 */
export function profiled(backend: Backend, dir: string): Backend {
  return {
    ...backend,
    command(spec) {
      const command = backend.command(spec);
      return { ...command, args: ['--cpu-prof', '--cpu-prof-dir', join(dir, spec.name), ...command.args] };
    },
  };
}

/** Reads the main thread's profile (thread id 0) each member wrote, by member name. */
export async function readProfiles(dir: string): Promise<Map<string, CpuProfile>> {
  const profiles = new Map<string, CpuProfile>();
  for (const member of await readdir(dir)) {
    const main = (await readdir(join(dir, member))).find((file) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(file));
    if (main !== undefined) profiles.set(member, JSON.parse(await readFile(join(dir, member, main), 'utf8')) as CpuProfile);
  }
  return profiles;
}

const clockTicksPerSecond = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** What a process has used so far: CPU and system calls. */
export interface ProcessCounters {
  /** User + system CPU in ms, all threads. */
  cpuMs: number;
  /** Read-family and write-family system calls (/proc/<pid>/io syscr and syscw): sockets, files, pipes. */
  readCalls: number;
  writeCalls: number;
}

/** A process's counters, or undefined when /proc cannot tell. */
export function processCounters(pid: number | undefined): ProcessCounters | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after its closing parenthesis: utime and stime are the 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const io = new Map(readFileSync(`/proc/${pid}/io`, 'utf8').trim().split('\n').map((line) => {
      const [name, value] = line.split(':');
      return [name!.trim(), Number(value)] as const;
    }));
    return {
      cpuMs: ((Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond) * 1000,
      readCalls: io.get('syscr') ?? Number.NaN,
      writeCalls: io.get('syscw') ?? Number.NaN,
    };
  } catch {
    return undefined;
  }
}

/** What `after` adds to `before`, or undefined when either is unknown. */
export function countersSince(before: ProcessCounters | undefined, after: ProcessCounters | undefined): ProcessCounters | undefined {
  if (before === undefined || after === undefined) return undefined;
  return { cpuMs: after.cpuMs - before.cpuMs, readCalls: after.readCalls - before.readCalls, writeCalls: after.writeCalls - before.writeCalls };
}

/** What the bench remembers of one run for one member, to report once the profiles are written. */
export interface RunWindow {
  /** The system measured: coffer or etcd (never profiled: its lines carry counters only). */
  target: string;
  /** Which of the bench's --rounds. */
  round: number;
  op: string;
  clients: number;
  ops: number;
  fromUs: number;
  toUs: number;
  /** Per member: what it used over the run (undefined without /proc). */
  used: Map<string, ProcessCounters | undefined>;
}

/** The monotonic clock the profiles use, in microseconds. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** One `{"profile":…}` line per run and member, and a table for people on stderr. */
export function reportProfiles(windows: RunWindow[], profiles = new Map<string, CpuProfile>()): void {
  const pct = (x: number): number => Math.round(x * 1000) / 10;
  const perOp = (total: number | undefined, ops: number, unit: number): number | null =>
    total === undefined || ops === 0 ? null : Math.round((total / ops) * unit) / unit;
  for (const w of windows) {
    process.stderr.write(`# ${w.target}: profile of ${w.op}, ${w.clients} clients, round ${w.round}: CPU ms and read/write system calls per op; % of the event loop's busy time by area\n`);
    process.stderr.write(`#   member  cpuMs/op  reads/op writes/op  busy%  ${areas.map((a) => a.padStart(8)).join('')}\n`);
    for (const [member, used] of w.used) {
      const profile = profiles.get(member);
      const seconds = (w.toUs - w.fromUs) / 1e6;
      const sliced = profile === undefined ? undefined : sharesOf(profile, w.fromUs, w.toUs);
      const cpuMsPerOp = perOp(used?.cpuMs, w.ops, 1000);
      const readCallsPerOp = perOp(used?.readCalls, w.ops, 100);
      const writeCallsPerOp = perOp(used?.writeCalls, w.ops, 100);
      const shares = sliced === undefined ? null : Object.fromEntries(areas.map((a) => [a, pct(sliced.shares[a])]));
      const busyPct = sliced === undefined ? null : pct(sliced.busyMs / 1000 / seconds);
      const line = { target: w.target, round: w.round, op: w.op, clients: w.clients, member, cpuMsPerOp, readCallsPerOp, writeCallsPerOp, eventLoopBusyPct: busyPct, sharesPct: shares };
      process.stdout.write(`${JSON.stringify({ profile: line })}\n`);
      const cells = areas.map((a) => String(shares?.[a] ?? '-').padStart(8)).join('');
      const column = (x: number | null, width: number): string => String(x ?? '-').padStart(width);
      process.stderr.write(`#   ${member.padEnd(6)}  ${column(cpuMsPerOp, 8)}  ${column(readCallsPerOp, 8)} ${column(writeCallsPerOp, 9)}  ${column(busyPct, 5)}  ${cells}\n`);
    }
  }
}
