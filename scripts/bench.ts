/**
 * bench — a closed-loop load generator for the KV API (docs/performance.md):
 *
 *   node --import tsx scripts/bench.ts --endpoints URL… --op put|get|mixed --clients N --duration 10s
 *        --value-bytes 256 [--keys 1000] [--consistency linearizable|serializable] [--against-etcd]
 *        [--members N] [--rounds 1] [--warmup 5s] [--protocol http|grpc] [--cacert F --cert F --key F]
 *   node --import tsx scripts/bench.ts --op startup --keys 1000000 [--members 1] [--value-bytes 256]
 *        [--start-coffer] [--against-etcd]
 *
 * N clients each issue one request at a time for the duration; client c talks to endpoint c mod E.
 * `get` reads keys preloaded once before measuring; `put` writes random keys of --keys; `mixed` is half
 * and half. Prints one JSON line per run on stdout:
 *   {"target","round","op","clients","ops","opsPerSec","p50Ms","p99Ms","errors"}
 * --op and --clients also take comma lists (one run per combination). --rounds N runs them all N
 * times; with two systems, each workload runs on one right after the other, in the opposite order
 * each round (Coffer first in odd rounds), both clusters started before the first run.
 * Before the first round, every system serves each workload (each --op at each --clients count) for
 * --warmup (default 5s; 0 skips it), unmeasured, so that the runs see a warm member: a Coffer member's
 * JavaScript is compiled to optimised code only once it has run a while (docs/performance.md,
 * "Measuring warm members"), and a member the bench has just started has not.
 * When the bench started the cluster and measures puts by one client, each round begins by measuring
 * the raw fdatasync rate of the disk the members write to (bench-fsync.ts, 2 s), printed as
 * `{"fsync":{"round","syncsPerSec","p50Ms","p99Ms",…}}`, and the put lines of one client carry
 * "perFsync": their ops/s ÷ that rate.
 * A cluster the bench starts (--start-coffer, --against-etcd) has its leader's endpoint first, so a single
 * client talks to the leader of either system.
 *
 * --against-etcd starts an etcd 3.4 cluster (Debian's etcd-server) of the same size (the number of
 * --endpoints, or --members) through the test harness — client and peer mutual TLS, fsync on, no
 * fault proxies — runs the same workload through the same client, and prints its line too, then per
 * workload `{"ratio":{"op","clients","rounds","opsPerSec","p50Ms","p99Ms"}}` (Coffer ÷ etcd) when both
 * ran: the median over the rounds of each round's pair, with "opsPerSecMin" and "opsPerSecMax" of
 * several. --protocol picks the client for both systems: `http`
 * (etcd's JSON gateway, keep-alive HTTPS; the default) or `grpc` (etcd's gRPC API, one HTTP/2
 * connection per endpoint carrying every client's calls, as etcd's clients do). Without --endpoints only etcd is measured, unless
 * --start-coffer starts a Coffer cluster of --members through the harness. Labels go to stderr, so
 * stdout stays one JSON object per line.
 *
 * Of every cluster the bench starts, once it has stopped, the bench prints per run and member
 * `{"profile":{"target","round","op","clients","member","cpuMsPerOp","readCallsPerOp","writeCallsPerOp",
 * "eventLoopBusyPct","sharesPct":{TLS,HTTP,API,audit,Raft,WAL,durable,seal,store,GC,other}}}` and the same as
 * a table on stderr (bench-profile.ts says how each figure is taken): CPU and system calls per operation
 * for Coffer and etcd alike; the busy time and its shares only for Coffer members run under `--cpu-prof`,
 * as they are with --start-coffer (--no-profile turns it off; so does --against-etcd, since a profiled
 * member is slower and etcd runs without one).
 *
 * The Coffer members the bench starts run the build in dist/, as an installed `coffer server` does; the
 * bench makes it first from the checkout (tsc, as `npm run build`). --from-source runs them from src/
 * through the TypeScript loader instead, without a build.
 *
 * --op startup (alone; needs --start-coffer and/or --against-etcd, since it restarts the members)
 * measures a restart instead of a workload: for each system it starts a cluster of --members, loads
 * --keys keys of --value-bytes in transactions of 128 puts, waits until every member has applied them,
 * stops every member (SIGTERM) and starts them again, then kills them (SIGKILL) and starts them again,
 * then prints
 *   {"op":"startup","system","members","keys","valueBytes","loadSeconds","loadKeysPerSec","startupMs",
 *    "startupAfterKillMs","rssMiB","rssAnonMiB","rssFileMiB","diskMiB","perMember":[…]}
 * — startupMs from spawn to the first linearizable read served (the slowest member) after the SIGTERM,
 * startupAfterKillMs the same after the SIGKILL, the memory of the largest member just after the first
 * (bench-startup.ts says how each figure is taken) — and with both systems
 * `{"ratio":{"op":"startup",…}}` (Coffer ÷ etcd). Its members run without the profiler.
 */
import { Command } from 'commander';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ConnectionOptions } from 'node:tls';
import { GrpcKvClient, isClientError, KvClient } from '../src/client/index.ts';
import { type Backend, Cluster, cofferBackend, cofferBuildBackend, cofferBuildEntry, etcdBackend, repoRoot, withCluster } from '../test/support/cluster/index.ts';
import { countersSince, monotonicUs, processCounters, profiled, readProfiles, reportProfiles, type RunWindow } from './bench-profile.ts';
import { measureFsyncRate } from './bench-fsync.ts';
import { quantile, rounded } from './bench-stats.ts';
import { measureStartup, type StartupResult } from './bench-startup.ts';

type Op = 'put' | 'get' | 'mixed';

/** What a bench client does, whichever protocol carries it. */
interface BenchClient {
  put(key: string, value: Uint8Array): Promise<unknown>;
  range(key: string, options: { serializable: boolean }): Promise<unknown>;
  close(): void;
}

interface Run {
  target: 'coffer' | 'etcd';
  /** 1, 2, … (--rounds): the systems run each workload back to back, in the opposite order each round. */
  round: number;
  op: Op;
  clients: number;
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Put, one client, on a cluster the bench started: ops/s ÷ the disk's raw fdatasync rate of the round. */
  perFsync?: number;
}

function duration(name: string) {
  return (value: string): number => {
    if (value === '0') return 0;
    const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(value);
    if (!match) throw new Error(`--${name} "${value}" must look like 500ms, 10s or 1m`);
    const unit = match[2] === 'ms' ? 1 : match[2] === 's' ? 1_000 : 60_000;
    return Number(match[1]) * unit;
  };
}

function positive(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} "${value}" must be a positive whole number`);
    return n;
  };
}

const list = <T>(parse: (v: string) => T) => (value: string): T[] => value.split(',').map((v) => parse(v.trim()));
const opOf = (value: string): Op | 'startup' => {
  if (value !== 'put' && value !== 'get' && value !== 'mixed' && value !== 'startup') throw new Error(`--op "${value}" must be put, get, mixed or startup`);
  return value;
};

const program = new Command('bench')
  .description('measure KV throughput and latency of a Coffer (or etcd) cluster')
  .option('--endpoints <urls...>', 'client URLs of the cluster under test (space or comma separated)')
  .option('--op <ops>', 'put, get or mixed (comma list for several runs), or startup alone', list(opOf), ['put'] as Op[])
  .option('--clients <n>', 'concurrent clients (comma list for several runs)', list(positive('clients')), [1])
  .option('--duration <d>', 'measuring time per run', duration('duration'), 10_000)
  .option('--warmup <d>', 'unmeasured time each system serves each workload before the first round; 0 skips it', duration('warmup'), 5_000)
  .option('--value-bytes <n>', 'value size', positive('value-bytes'), 256)
  .option('--keys <n>', 'key space (with --op startup: the keys loaded before the restart)', positive('keys'), 1000)
  .option('--consistency <c>', 'linearizable or serializable reads', 'linearizable')
  .option('--protocol <p>', 'http (the JSON gateway) or grpc (etcd\'s gRPC API)', 'http')
  .option('--against-etcd', 'also start an etcd cluster of the same size and run the same workload', false)
  .option('--rounds <n>', 'run every workload this many times, the systems back to back in the opposite order each round', positive('rounds'), 1)
  .option('--members <n>', 'cluster size when no --endpoints are given', positive('members'), 3)
  .option('--start-coffer', 'start a Coffer cluster of --members through the test harness instead of using --endpoints', false)
  .option('--no-profile', 'with --start-coffer: do not run the members under --cpu-prof nor report CPU per operation (implied by --against-etcd)')
  .option('--from-source', 'with --start-coffer: run the members from src/ through the TypeScript loader instead of building dist/ first', false)
  .option('--cacert <file>', 'CA certificate', process.env.COFFER_CACERT ?? 'certs/ca.crt')
  .option('--cert <file>', 'client certificate', process.env.COFFER_CERT ?? 'certs/clients/admin.crt')
  .option('--key <file>', 'client key', process.env.COFFER_KEY ?? 'certs/clients/admin.key')
  .showSuggestionAfterError(true);
program.parse();
const options = program.opts<{
  endpoints?: string[]; op: (Op | 'startup')[]; clients: number[]; duration: number; warmup: number; valueBytes: number; keys: number; consistency: string; protocol: string;
  againstEtcd: boolean; rounds: number; members: number; startCoffer: boolean; profile: boolean; fromSource: boolean; cacert: string; cert: string; key: string;
}>();
if (options.consistency !== 'linearizable' && options.consistency !== 'serializable') {
  throw new Error(`--consistency "${options.consistency}" must be linearizable or serializable`);
}
if (options.protocol !== 'http' && options.protocol !== 'grpc') throw new Error(`--protocol "${options.protocol}" must be http or grpc`);
const endpoints = (options.endpoints ?? []).flatMap((e) => e.split(',')).filter((e) => e !== '');
if (endpoints.length === 0 && !options.againstEtcd && !options.startCoffer) {
  throw new Error('give --endpoints (or --start-coffer), or --against-etcd to measure etcd alone');
}
const startup = options.op.includes('startup');
if (startup && (options.op.length > 1 || endpoints.length > 0)) {
  throw new Error('--op startup runs alone and restarts the members: give it with --start-coffer and/or --against-etcd, without --endpoints');
}
const ops = options.op.filter((op): op is Op => op !== 'startup');
const cofferToStart = options.startCoffer ? cofferMembers() : undefined;
/** How long each round measures the disk's raw fdatasync rate, in seconds. */
const fsyncProbeSeconds = 2;

if (startup) await startupBench();
else await throughputBench();

/**
 * The Coffer members the bench starts: by default the build in dist/, made now from the checkout as
 * `npm run build` makes it, so they run what an installed `coffer server` runs (no TypeScript loader:
 * it costs each member ~0.8 s of CPU at start and per-closure naming helpers on every request).
 */
function cofferMembers(): Backend {
  if (options.fromSource) {
    process.stderr.write('# coffer members run from src/ through the TypeScript loader (--from-source)\n');
    return cofferBackend;
  }
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const started = performance.now();
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: repoRoot, stdio: ['ignore', process.stderr, process.stderr] });
  process.stderr.write(`# coffer members run the build ${cofferBuildEntry} (built in ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
  return cofferBuildBackend;
}

/** --op startup: each system's cluster loaded, stopped and started again (bench-startup.ts). */
async function startupBench(): Promise<void> {
  const results: StartupResult[] = [];
  const systems = [...(cofferToStart !== undefined ? [cofferToStart] : []), ...(options.againstEtcd ? [etcdBackend] : [])];
  for (const backend of systems) {
    process.stderr.write(`# starting ${backend.name} x${options.members} through the test harness\n`);
    const result = await withCluster({ size: options.members, backend, faults: false },
      (cluster) => measureStartup(cluster, { system: backend.name, keys: options.keys, valueBytes: options.valueBytes, keyOf }));
    process.stdout.write(`${JSON.stringify(result)}\n`);
    results.push(result);
  }
  const [coffer, etcd] = results;
  if (coffer !== undefined && etcd !== undefined) {
    const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : Math.round((a / b) * 100) / 100);
    process.stdout.write(`${JSON.stringify({ ratio: {
      op: 'startup', members: options.members, keys: options.keys, startupMs: ratio(coffer.startupMs, etcd.startupMs),
      startupAfterKillMs: ratio(coffer.startupAfterKillMs, etcd.startupAfterKillMs),
      rssMiB: ratio(coffer.rssMiB, etcd.rssMiB), rssAnonMiB: ratio(coffer.rssAnonMiB, etcd.rssAnonMiB), diskMiB: ratio(coffer.diskMiB, etcd.diskMiB),
    } })}\n`);
  }
}

/**
 * The members' client URLs, the leader's first: a single client talks to the first, and a write sent to
 * a follower crosses the peer links twice more (the proposal forwarded, the commit learned) before it is
 * answered — so both systems are measured from the same place, whichever member won the election.
 */
async function leaderFirst(cluster: Cluster): Promise<string[]> {
  const leader = await cluster.waitReady();
  process.stderr.write(`# leader: ${cluster.names[leader]} (a single client talks to it)\n`);
  const others = [...cluster.names.keys()].filter((i) => i !== leader);
  return [leader, ...others].map((i) => cluster.clientUrl(i));
}

/** A system under test: its client URLs (leader first when the bench started it) and how to reach it. */
interface System {
  target: 'coffer' | 'etcd';
  urls: string[];
  tls: ConnectionOptions;
  /** The cluster the bench started (stopped at the end), and the member processes it watches. */
  cluster?: Cluster;
  watch?: Watch;
  /** Where its members write their CPU profiles (Coffer under --cpu-prof only). */
  profileDir?: string;
  kvs: BenchClient[];
  runs: Run[];
}

/**
 * Every other --op: closed-loop runs of each combination of --op and --clients, --rounds times. Every
 * system is started before the first run, and each workload runs on one system right after the other, in
 * the opposite order each round, so that a pair of runs sees the same machine and the ratio is taken
 * within the pair (this VM's speed drifts by a third over an hour: docs/performance.md).
 */
async function throughputBench(): Promise<void> {
  const systems: System[] = [];
  try {
    if (cofferToStart !== undefined) {
      process.stderr.write(`# starting coffer x${options.members} through the test harness\n`);
      // A profiled member pays for its profiler; against etcd (never profiled) both run bare.
      const profileDir = options.profile && !options.againstEtcd ? await mkdtemp(join(tmpdir(), 'coffer-bench-profile-')) : undefined;
      const system = await startSystem('coffer', profileDir === undefined ? cofferToStart : profiled(cofferToStart, profileDir), options.members, systems);
      system.profileDir = profileDir;
      endpoints.push(...system.urls);
    } else if (endpoints.length > 0) {
      const tls = { cert: await readFile(options.cert, 'utf8'), key: await readFile(options.key, 'utf8'), ca: await readFile(options.cacert, 'utf8') };
      systems.push({ target: 'coffer', urls: endpoints, tls, kvs: openClients(endpoints, tls), runs: [] });
    }
    if (options.againstEtcd) {
      const size = endpoints.length > 0 ? endpoints.length : options.members;
      process.stderr.write(`# starting etcd x${size} (TLS, fsync) through the test harness\n`);
      await startSystem('etcd', etcdBackend, size, systems);
    }
    const value = new Uint8Array(options.valueBytes).fill(0x61);
    if (ops.some((op) => op !== 'put')) for (const system of systems) await preload(system.kvs, value);
    if (options.warmup > 0) for (const system of systems) await warmUp(system, value);
    // The disk the started members write to: its raw fdatasync rate bounds a durable single writer.
    const probeFsync = systems.some((s) => s.cluster !== undefined) && ops.includes('put') && options.clients.includes(1);
    for (let round = 1; round <= options.rounds; round++) {
      const fsync = probeFsync ? measureFsyncRate(tmpdir(), fsyncProbeSeconds, options.valueBytes) : undefined;
      if (fsync !== undefined) process.stdout.write(`${JSON.stringify({ fsync: { round, ...fsync } })}\n`);
      const order = round % 2 === 1 ? systems : [...systems].reverse();
      for (const op of ops) {
        for (const clients of options.clients) {
          for (const system of order) {
            const run = await runOne(system, op, clients, value, round);
            if (fsync !== undefined && op === 'put' && clients === 1) run.perFsync = rounded(run.opsPerSec / fsync.syncsPerSec);
            process.stdout.write(`${JSON.stringify(run)}\n`);
            system.runs.push(run);
          }
        }
      }
    }
  } finally {
    for (const system of systems) for (const kv of system.kvs) kv.close();
    for (const system of systems) await system.cluster?.stop();
  }
  // The members wrote their profiles as they exited.
  for (const system of systems) {
    if (system.watch === undefined) continue;
    reportProfiles(system.watch.windows, system.profileDir === undefined ? undefined : await readProfiles(system.profileDir));
    if (system.profileDir !== undefined) await rm(system.profileDir, { recursive: true, force: true });
  }
  const [coffer, etcd] = systems;
  if (coffer !== undefined && etcd !== undefined) reportRatios(coffer.runs, etcd.runs);
}

async function startSystem(target: System['target'], backend: Backend, size: number, systems: System[]): Promise<System> {
  const cluster = await Cluster.start({ size, backend, faults: false });
  // Pushed at once, so that a failure from here on still stops the cluster.
  const system: System = { target, urls: [], tls: cluster.clientTls(), cluster, watch: watchMembers(target, cluster), kvs: [], runs: [] };
  systems.push(system);
  system.urls = await leaderFirst(cluster);
  system.kvs = openClients(system.urls, system.tls);
  return system;
}

/**
 * One `{"ratio":…}` line per workload: Coffer ÷ etcd of each pair of runs of a round, the median over
 * the rounds (and the lowest and highest of the throughput ratios when there were several).
 */
function reportRatios(coffer: Run[], etcd: Run[]): void {
  const ratio = (a: number, b: number): number | null => (b === 0 ? null : rounded(a / b));
  const median = (xs: (number | null)[]): number | null => {
    const known = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
    if (known.length === 0) return null;
    const middle = known.length / 2;
    return Number.isInteger(middle) ? rounded((known[middle - 1]! + known[middle]!) / 2) : known[Math.floor(middle)]!;
  };
  for (const op of ops) {
    for (const clients of options.clients) {
      const pairs = coffer.filter((run) => run.op === op && run.clients === clients)
        .map((run) => [run, etcd.find((e) => e.op === op && e.clients === clients && e.round === run.round)!] as const);
      const throughput = pairs.map(([c, e]) => ratio(c.opsPerSec, e.opsPerSec));
      const line: Record<string, unknown> = {
        op, clients, rounds: pairs.length, opsPerSec: median(throughput),
        p50Ms: median(pairs.map(([c, e]) => ratio(c.p50Ms, e.p50Ms))), p99Ms: median(pairs.map(([c, e]) => ratio(c.p99Ms, e.p99Ms))),
      };
      if (pairs.length > 1) Object.assign(line, { opsPerSecMin: Math.min(...throughput.map((x) => x ?? Infinity)), opsPerSecMax: Math.max(...throughput.map((x) => x ?? 0)) });
      process.stdout.write(`${JSON.stringify({ ratio: line })}\n`);
    }
  }
}

/** The member processes to watch during each run, and where each run's window is noted. */
interface Watch {
  target: string;
  members: { name: string; pid: () => number | undefined }[];
  windows: RunWindow[];
}

function watchMembers(target: string, cluster: Cluster): Watch {
  return { target, members: cluster.names.map((name, i) => ({ name, pid: () => cluster.members[i]?.pid })), windows: [] };
}

/**
 * One client per endpoint: over HTTP, keep-alive with enough sockets for every bench client on it; over
 * gRPC, one HTTP/2 connection.
 */
function openClients(urls: string[], tls: ConnectionOptions): BenchClient[] {
  const clientsMax = Math.max(...options.clients);
  return urls.map((url) => (options.protocol === 'grpc'
    ? new GrpcKvClient({ endpoint: url, tls, requestTimeoutMs: 30_000 })
    : new KvClient({ endpoints: [url], tls, socketsPerEndpointMax: clientsMax + 8, requestTimeoutMs: 30_000 })));
}

async function runOne(system: System, op: Op, clients: number, value: Uint8Array, round: number): Promise<Run> {
  const watch = system.watch;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const fromUs = monotonicUs();
  const memberUsed0 = watch?.members.map((m) => processCounters(m.pid()));
  const run = { target: system.target, round, ...await measure(system.kvs, op, clients, value, options.duration) };
  const cpu = process.cpuUsage(cpu0);
  if (watch !== undefined) {
    const used = new Map(watch.members.map((m, i) => [m.name, countersSince(memberUsed0?.[i], processCounters(m.pid()))] as const));
    watch.windows.push({ target: watch.target, round, op, clients, ops: run.ops, fromUs, toUs: monotonicUs(), used });
  }
  // The bench's own CPU share: near 100% means the load generator, not the cluster, is the limit.
  const cpuPct = Math.round(((cpu.user + cpu.system) / 1000 / (performance.now() - t0)) * 100);
  process.stderr.write(`# ${system.target} over ${options.protocol}, round ${round} (bench process CPU ${cpuPct}% of one core):\n`);
  return run;
}

/** Each workload (op × clients) served for --warmup; not measured, not reported on stdout. */
async function warmUp(system: System, value: Uint8Array): Promise<void> {
  for (const op of ops) {
    for (const clients of options.clients) {
      const run = await measure(system.kvs, op, clients, value, options.warmup);
      process.stderr.write(`# ${system.target}: warm-up, ${op} × ${clients} for ${options.warmup / 1000} s (${run.ops} ops, not measured)\n`);
    }
  }
}

function keyOf(i: number): string {
  return `bench/${String(i).padStart(8, '0')}`;
}

async function preload(kvs: BenchClient[], value: Uint8Array): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(32, options.keys) }, async (_, w) => {
    const kv = kvs[w % kvs.length] as BenchClient;
    while (next < options.keys) await kv.put(keyOf(next++), value);
  });
  await Promise.all(workers);
}

async function measure(kvs: BenchClient[], op: Op, clients: number, value: Uint8Array, durationMs: number): Promise<Omit<Run, 'target' | 'round' | 'perFsync'>> {
  const latencies: number[] = [];
  /** Each kind of failed call (the client's message) and how often it came. */
  const errorKinds = new Map<string, number>();
  const serializable = options.consistency === 'serializable';
  const start = performance.now();
  const end = start + durationMs;
  const loops = Array.from({ length: clients }, async (_, c) => {
    const kv = kvs[c % kvs.length] as BenchClient;
    let seed = (c + 1) * 2654435761;
    while (performance.now() < end) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const key = keyOf(seed % options.keys);
      const write = op === 'put' || (op === 'mixed' && seed % 2 === 0);
      const t0 = performance.now();
      try {
        if (write) await kv.put(key, value);
        else await kv.range(key, { serializable });
        latencies.push(performance.now() - t0);
      } catch (error) {
        if (!isClientError(error)) throw error;
        errorKinds.set(error.message, (errorKinds.get(error.message) ?? 0) + 1);
      }
    }
  });
  await Promise.all(loops);
  for (const [message, count] of errorKinds) process.stderr.write(`# ${op} × ${clients}: ${count} failed with: ${message}\n`);
  const errors = [...errorKinds.values()].reduce((a, b) => a + b, 0);
  const elapsedS = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    op, clients, ops: latencies.length, opsPerSec: Math.round(latencies.length / elapsedS),
    p50Ms: rounded(quantile(latencies, 0.5)), p99Ms: rounded(quantile(latencies, 0.99)), errors,
  };
}
