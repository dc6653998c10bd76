/**
 * The bench's start-up measurement (`--op startup`, docs/performance.md "Start-up"): what it costs a
 * cluster's members to restart holding N keys.
 *
 * 1. Load: N keys of --value-bytes through the JSON gateway in transactions of txnOpsMax puts (etcd's
 *    limit too), loadTxnsInFlight at a time, all sent to the leader (a follower would forward them).
 * 2. Wait until every member has applied them: a serializable read on each member answers at the
 *    revision of the last transaction or later.
 * 3. Stop every member as an operator would (SIGTERM), then spawn them all again.
 * 4. Per member: the wall time from its spawn to its first successful linearizable read of a loaded
 *    key (the value read whole and checked), and its resident memory right after that read
 *    (/proc/<pid>/status: VmRSS, RssAnon, RssFile), and its data dir's size on disk.
 * 5. Kill every member (SIGKILL, as a crash would end it) and spawn them all again: the same start-up
 *    time without what a clean stop leaves behind (Coffer's index checkpoint).
 *
 * The result's flat figures are the slowest member's start-up and the largest member's memory; every
 * member's own figures are in `perMember`. Linux only for the memory figures.
 */
import { performance } from 'node:perf_hooks';
import { isClientError, KvClient, type RequestOp } from '../src/client/index.ts';
import { txnOpsMax } from '../src/config/index.ts';
import { type Cluster } from '../test/support/cluster/index.ts';
import { waitUntil } from '../test/support/wait.ts';
import { dirBytes, mib, residentMemory, type ResidentMemory } from './bench-footprint.ts';

/** Load transactions sent at once: enough to fill the leader's batches (group commit) on a 2-core VM. */
const loadTxnsInFlight = 16;
/** The longest the load's requests, the apply wait and a member's start-up may each take. */
const startupPhaseTimeoutMs = 20 * 60_000;
/** How long a start-up probe waits for a connection and for its read's answer. */
const probeConnectTimeoutMs = 1_000;
const probeRequestTimeoutMs = 5_000;
/** Milliseconds between two start-up probes of a member: the measurement's resolution. */
const probeIntervalMs = 20;

export interface StartupOptions {
  system: string;
  keys: number;
  valueBytes: number;
  keyOf: (i: number) => string;
}

interface MemberStartup extends ResidentMemory {
  name: string;
  startupMs: number;
  diskMiB: number;
  /** How long the SIGTERM took to end the process, and how it ended (exit code or signal). */
  stopMs: number;
  stopExit: number | string;
  /** The start-up after a SIGKILL instead of a SIGTERM. */
  startupAfterKillMs: number;
}

export interface StartupResult extends ResidentMemory {
  op: 'startup';
  system: string;
  members: number;
  keys: number;
  valueBytes: number;
  loadSeconds: number;
  loadKeysPerSec: number;
  startupMs: number;
  /** The slowest member's start-up after a SIGKILL. */
  startupAfterKillMs: number;
  diskMiB: number;
  perMember: MemberStartup[];
}

export async function measureStartup(cluster: Cluster, options: StartupOptions): Promise<StartupResult> {
  const members = cluster.names.map((_, i) => i);
  const value = new Uint8Array(options.valueBytes).fill(0x61);
  const t0 = performance.now();
  const revision = await load(cluster, options, value);
  await Promise.all(members.map((i) => waitApplied(cluster, i, options.keyOf(options.keys - 1), revision)));
  const loadSeconds = (performance.now() - t0) / 1000;
  process.stderr.write(`# ${options.system}: ${options.keys} keys loaded and applied in ${loadSeconds.toFixed(1)} s; restarting\n`);

  const stops = await Promise.all(members.map(async (i) => {
    const s0 = performance.now();
    const exit = await cluster.stopMember(i);
    return { stopMs: Math.round(performance.now() - s0), stopExit: exit };
  }));
  const started = await spawnAndProbe(cluster, options, value.length);
  await Promise.all(members.map((i) => cluster.kill(i)));
  const afterKill = await spawnAndProbe(cluster, options, value.length);
  const perMember = await Promise.all(members.map(async (i): Promise<MemberStartup> => {
    const { startupMs, memory } = started[i] as (typeof started)[number];
    return {
      name: cluster.names[i] as string, startupMs, ...memory, diskMiB: mib(await dirBytes(cluster.dataDir(i))), ...(stops[i] as (typeof stops)[number]),
      startupAfterKillMs: (afterKill[i] as (typeof afterKill)[number]).startupMs,
    };
  }));
  const slowest = Math.max(...perMember.map((m) => m.startupMs));
  const largest = perMember.reduce((a, b) => ((b.rssMiB ?? 0) > (a.rssMiB ?? 0) ? b : a));
  return {
    op: 'startup', system: options.system, members: members.length, keys: options.keys, valueBytes: options.valueBytes,
    loadSeconds: Math.round(loadSeconds * 10) / 10, loadKeysPerSec: Math.round(options.keys / loadSeconds), startupMs: slowest,
    startupAfterKillMs: Math.max(...perMember.map((m) => m.startupAfterKillMs)),
    rssMiB: largest.rssMiB, rssAnonMiB: largest.rssAnonMiB, rssFileMiB: largest.rssFileMiB, diskMiB: Math.max(...perMember.map((m) => m.diskMiB)), perMember,
  };
}

/**
 * Spawns every (stopped) member again and waits for each one's first read of the last key loaded;
 * resolves with each member's start-up time and its memory just after that read.
 */
async function spawnAndProbe(cluster: Cluster, options: StartupOptions, valueBytes: number): Promise<{ startupMs: number; memory: ResidentMemory }[]> {
  const members = cluster.names.map((_, i) => i);
  // restart() spawns before its first await, so each time is taken just before its member's spawn.
  const spawnedAt = await Promise.all(members.map(async (i) => {
    const at = performance.now();
    await cluster.restart(i, { wait: false });
    return at;
  }));
  return Promise.all(members.map(async (i) => {
    const startupMs = await firstRead(cluster, i, options.keyOf(options.keys - 1), valueBytes) - (spawnedAt[i] as number);
    const pid = cluster.members[i]?.pid;
    const memory = pid === undefined ? { rssMiB: null, rssAnonMiB: null, rssFileMiB: null } : await residentMemory(pid);
    return { startupMs: Math.round(startupMs), memory };
  }));
}

/** Puts keys 0..N-1 through the leader; resolves with the highest revision a transaction answered with. */
async function load(cluster: Cluster, options: StartupOptions, value: Uint8Array): Promise<number> {
  const leader = await cluster.leader();
  const client = new KvClient({ endpoints: [cluster.clientUrl(leader)], tls: cluster.clientTls(), socketsPerEndpointMax: loadTxnsInFlight, requestTimeoutMs: startupPhaseTimeoutMs });
  let next = 0;
  let revision = 0;
  try {
    await Promise.all(Array.from({ length: loadTxnsInFlight }, async () => {
      while (next < options.keys) {
        const success: RequestOp[] = [];
        for (; success.length < txnOpsMax && next < options.keys; next++) success.push({ put: { key: options.keyOf(next), value } });
        const result = await client.txn({ success });
        revision = Math.max(revision, result.header.revision);
      }
    }));
  } finally {
    client.close();
  }
  return revision;
}

/** Waits until member i's own store has reached `revision` (a serializable read answers from it). */
async function waitApplied(cluster: Cluster, i: number, key: string, revision: number): Promise<void> {
  const client = cluster.client(i);
  let seen = 0;
  await waitUntil(async () => {
    seen = (await client.range(key, { serializable: true })).header.revision;
    return seen >= revision;
  }, startupPhaseTimeoutMs, `member ${cluster.names[i]} applied the load`, { detail: () => `at revision ${seen} of ${revision}` });
}

/** Asks member i for `key` (linearizable) until it answers with the whole value; resolves with the time it did. */
async function firstRead(cluster: Cluster, i: number, key: string, valueBytes: number): Promise<number> {
  const client = cluster.client(i, { connectTimeoutMs: probeConnectTimeoutMs, requestTimeoutMs: probeRequestTimeoutMs });
  let last = 'not asked yet';
  return waitUntil(async () => {
    if (cluster.members[i]?.running !== true) throw new Error(`member ${cluster.names[i]} exited (${String(await cluster.members[i]?.exited)})`);
    try {
      const kv = await client.get(key);
      if (kv?.value.length === valueBytes) return performance.now();
      last = `read ${kv === undefined ? 'no entry' : `${kv.value.length} bytes`}`;
    } catch (error) {
      if (!isClientError(error)) throw error;
      last = error.message;
    }
    return undefined;
  }, startupPhaseTimeoutMs, `member ${cluster.names[i]} serves a linearizable read`, { detail: () => last, pollMs: probeIntervalMs });
}
