/**
 * A real cluster of N member processes on loopback for integration tests, the bench and the soak:
 * certificates bootstrapped into a temp dir, members m1..mN spawned by a backend (coffer or etcd),
 * peer traffic through the fault-injecting Network, one KvClient per member's client URL, member logs
 * in <dir>/logs/<name>.log.
 *
 * Readiness is observed, never slept for: a member is ready when /v3/maintenance/status answers with a
 * leader; the cluster is ready when every running, unpaused member names the same leader. A Coffer
 * cluster is started only once every member also answers /readyz with 200 (it can serve a request).
 *
 * Invariant: after stop() no member process and no proxy listener remain; the temp dir is removed
 * unless `keep` was asked for or a withCluster body failed (then its path and the log tails are printed).
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KvClient, isClientError, type KvClientOptions } from '../../../src/client/index.ts';
import { waitUntil } from '../wait.ts';
import { type Backend, type BackendName, backendNamed, defaultBackendName, type MemberSpec } from './backends.ts';
import { type ClusterCerts, makeCerts } from './certs.ts';
import { Network } from './network.ts';
import { freePorts } from './ports.ts';
import { MemberProcess } from './process.ts';

export interface ClusterOptions {
  size: number;
  backend?: BackendName | Backend;
  /** Parent of the cluster's temp dir (default: the OS temp dir). */
  parentDir?: string;
  keep?: boolean;
  /** Deadline for the cluster to elect a leader at start and after restarts. */
  readyTimeoutMs?: number;
  /** Put the fault-injecting proxies between members (default true; the bench turns them off). */
  faults?: boolean;
  /** Extra member certificates (m<N+1>…) made up front, for addMember(). */
  spares?: number;
  /** Flags added to every member's command line (e.g. `--exit-grace 10s`, `--snapshot-count 100`). */
  memberArgs?: string[];
}

const readyTimeoutMsDefault = 60_000;
const pollIntervalMs = 50;

export class Cluster {
  readonly names: string[];
  readonly members: MemberProcess[];
  /** Member ids as the members report them (decimal strings), learned once each has answered. */
  readonly memberIds: (string | undefined)[];
  private readonly clients: KvClient[] = [];
  /** What each member started by startJoining was started from, by index. */
  private readonly joinSpecs = new Map<number, MemberSpec>();
  private stopped = false;

  private constructor(
    initialSize: number,
    readonly backend: Backend,
    readonly dir: string,
    readonly certs: ClusterCerts,
    readonly network: Network,
    readonly clientPorts: number[],
    /** Real peer ports (the proxies sit in front of them). */
    readonly peerPorts: number[],
    private readonly commands: ReturnType<Backend['command']>[],
    private readonly keep: boolean,
    readonly readyTimeoutMs: number,
  ) {
    this.names = Array.from({ length: initialSize }, (_, i) => `m${i + 1}`);
    this.members = this.names.map((name) => new MemberProcess(name, join(dir, 'logs', `${name}.log`)));
    this.memberIds = new Array<string | undefined>(initialSize).fill(undefined);
  }

  /** Members started so far, the initial ones and those added later (removed ones included). */
  get size(): number {
    return this.members.length;
  }

  static async start(options: ClusterOptions): Promise<Cluster> {
    const backend = typeof options.backend === 'object' ? options.backend : backendNamed(options.backend ?? defaultBackendName());
    const n = options.size;
    const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), `coffer-${backend.name}-${n}-`));
    await mkdir(join(dir, 'logs'));
    const names = Array.from({ length: n }, (_, i) => `m${i + 1}`);
    const certs = await makeCerts(join(dir, 'certs'), [...names, ...Array.from({ length: options.spares ?? 0 }, (_, i) => `m${n + i + 1}`)]);
    const mode = options.faults === false ? 'direct' : backend.networkMode;
    const proxyCount = mode === 'pair' ? n * n : mode === 'target' ? n : 0;
    const ports = await freePorts(2 * n + proxyCount);
    const clientPorts = ports.slice(0, n);
    const peerPorts = ports.slice(n, 2 * n);
    const network = await Network.start({ mode, names, peerPorts, proxyPorts: ports.slice(2 * n), certs });
    const commands: ReturnType<Backend['command']>[] = [];
    for (let i = 0; i < n; i++) {
      const initialCluster = names.map((name, j) => `${name}=${mode === 'target' ? network.peerUrl(-1, j) : network.peerUrl(i, j)}`).join(',');
      const spec = {
        index: i, name: names[i] as string, dataDir: join(dir, 'data', names[i] as string),
        clientPort: clientPorts[i] as number, peerPort: peerPorts[i] as number,
        initialCluster, advertisedPeerUrl: mode === 'target' ? network.peerUrl(-1, i) : network.peerUrl(i, i), certs, keyFile: join(dir, 'keys', `${names[i]}.key`),
      };
      await backend.prepare(spec);
      const command = backend.command(spec);
      commands.push({ ...command, args: [...command.args, ...(options.memberArgs ?? [])] });
    }
    const cluster = new Cluster(n, backend, dir, certs, network, clientPorts, peerPorts, commands, options.keep ?? false,
      options.readyTimeoutMs ?? readyTimeoutMsDefault);
    try {
      cluster.members.forEach((member, i) => member.start(commands[i] as ReturnType<Backend['command']>));
      await cluster.waitReady();
      if (backend.name === 'coffer') await cluster.waitServing();
    } catch (error) {
      process.stderr.write(await cluster.describeFailure(error));
      await cluster.stop(true);
      throw error;
    }
    return cluster;
  }

  /**
   * Adds a member through the member API of the live members and starts it with --join (coffer) or
   * --initial-cluster-state existing (etcd). Needs a spare certificate (ClusterOptions.spares). The
   * new member talks to the others directly, outside the fault proxies. Returns its index once it
   * answers with a leader.
   */
  async addMember(options: { learner?: boolean } = {}): Promise<number> {
    const name = `m${this.members.length + 1}`;
    const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
    const peerUrl = `https://127.0.0.1:${peerPort}`;
    const clientUrl = `https://127.0.0.1:${clientPort}`;
    const admin = this.client(this.live());
    const added = await retryUnhealthy(() => admin.memberAdd({ name, peerUrls: [peerUrl], clientUrls: [clientUrl], isLearner: options.learner === true }));
    const others = this.network.mode === 'target'
      // etcd checks the joiner's --initial-cluster against the members' advertised (proxy) URLs.
      ? added.members.filter((m) => m.id !== added.member.id).map((m) => `${m.name}=${m.peerUrls[0] ?? ''}`)
      : this.names.flatMap((other, j) => (this.memberIds[j] !== undefined && added.members.some((m) => m.id === this.memberIds[j])
        ? [`${other}=https://127.0.0.1:${this.peerPorts[j]}`] : []));
    const index = await this.startJoining({
      name, clientPort, peerPort, initialCluster: [...others, `${name}=${peerUrl}`].join(','), memberId: added.member.id, clusterId: added.header.clusterId,
    });
    await this.waitMemberReady(index);
    return index;
  }

  /**
   * Starts a member added to the running cluster (its certificate, members/<name>.*, in the cluster's
   * CA dir) with --join and what member add printed; returns its index without waiting for it.
   */
  async startJoining(options: { name: string; clientPort: number; peerPort: number; initialCluster: string; memberId: string; clusterId: string }): Promise<number> {
    const { name, clientPort, peerPort, initialCluster, memberId, clusterId } = options;
    const index = this.members.length;
    const spec: MemberSpec = {
      index, name, dataDir: join(this.dir, 'data', name), clientPort, peerPort,
      initialCluster, advertisedPeerUrl: `https://127.0.0.1:${peerPort}`, certs: this.certs,
      keyFile: join(this.dir, 'keys', `${name}.key`), join: { memberId, clusterId },
    };
    await this.backend.prepare(spec);
    const command = this.backend.command(spec);
    this.names.push(name);
    this.members.push(new MemberProcess(name, join(this.dir, 'logs', `${name}.log`)));
    this.memberIds.push(memberId);
    this.clientPorts.push(clientPort);
    this.peerPorts.push(peerPort);
    this.commands.push(command);
    this.joinSpecs.set(index, spec);
    (this.members[index] as MemberProcess).start(command);
    return index;
  }

  /** Stops a member that joined (startJoining) and starts it again listening on another peer port, same data. */
  async restartOnPeerPort(i: number, peerPort: number): Promise<void> {
    const spec = this.joinSpecs.get(i);
    if (spec === undefined) throw new Error(`member ${this.names[i]} did not join through startJoining`);
    await this.member(i).kill();
    const moved = { ...spec, peerPort, advertisedPeerUrl: `https://127.0.0.1:${peerPort}` };
    this.joinSpecs.set(i, moved);
    this.peerPorts[i] = peerPort;
    this.commands[i] = this.backend.command(moved);
    this.member(i).start(this.commands[i]);
  }

  /** Member i's data dir. */
  dataDir(i: number): string {
    return join(this.dir, 'data', this.names[i]!);
  }

  clientUrl(i: number): string {
    return `https://127.0.0.1:${this.clientPorts[i]}`;
  }

  /** A client for the given members (failover in that order); closed by stop(). */
  client(members: number | readonly number[], options: Partial<Omit<KvClientOptions, 'endpoints' | 'tls'>> = {}): KvClient {
    const list = typeof members === 'number' ? [members] : members;
    const client = new KvClient({ endpoints: list.map((i) => this.clientUrl(i)), tls: this.clientTls(), ...options });
    this.clients.push(client);
    return client;
  }

  /** A GET of `path` on member i's client port as the admin: the status code and the body as text. */
  get(i: number, path: string): Promise<{ status: number; body: string }> {
    return this.request(i, 'GET', path);
  }

  /** A POST of `body` as JSON to `path` on member i's client port as the admin: the status code and the body as text. */
  post(i: number, path: string, body: unknown): Promise<{ status: number; body: string }> {
    return this.request(i, 'POST', path, JSON.stringify(body));
  }

  private request(i: number, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
    const { cert, key, ca } = this.clientTls();
    const headers = body === undefined ? {} : { 'content-type': 'application/json' };
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${this.clientUrl(i)}${path}`, { method, headers, cert, key, ca, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** TLS options for a client of this cluster: the admin certificate. */
  clientTls(): KvClientOptions['tls'] {
    return { cert: this.pem(this.certs.clientCert), key: this.pem(this.certs.clientKey), ca: this.pem(this.certs.ca) };
  }

  /** Running and not paused: the members that can answer. */
  live(): number[] {
    return this.members.flatMap((m, i) => (m.running && !m.paused ? [i] : []));
  }

  async kill(i: number): Promise<void> {
    await this.member(i).kill();
  }

  /**
   * Stops member i as an operator would (SIGTERM; SIGKILL if it has not exited within graceMs) and
   * resolves with its exit code or signal; restart(i) starts it again.
   */
  async stopMember(i: number, graceMs?: number): Promise<number | string> {
    const member = this.member(i);
    await member.stop(graceMs);
    return member.exited;
  }

  /** Starts a stopped or killed member again with the same data and flags, and waits until it answers with a leader. */
  async restart(i: number, options: { wait?: boolean } = {}): Promise<void> {
    const member = this.member(i);
    if (member.running) await member.kill();
    member.start(this.commands[i] as ReturnType<Backend['command']>);
    if (options.wait !== false) await this.waitMemberReady(i);
  }

  pause(i: number): void {
    this.member(i).pause();
  }

  resume(i: number): void {
    this.member(i).resume();
  }

  /** Waits until every live member answers status with the same, non-zero leader; returns its index. */
  async waitReady(timeoutMs = this.readyTimeoutMs): Promise<number> {
    let last = '';
    return waitUntil(async () => {
      const live = this.live();
      const leaders = await Promise.all(live.map((i) => this.leaderSeenBy(i)));
      const known = leaders.filter((l): l is string => l !== undefined);
      last = `live members ${live.map((i) => this.names[i]).join(',')} see leaders ${leaders.map((l) => l ?? 'none').join(',')}`;
      if (known.length !== live.length || known.length === 0 || !known.every((l) => l === known[0])) return undefined;
      const leaderIndex = this.memberIds.indexOf(known[0]);
      return leaderIndex >= 0 && live.includes(leaderIndex) ? leaderIndex : undefined;
    }, timeoutMs, 'cluster ready', { detail: () => last, pollMs: pollIntervalMs });
  }

  /**
   * Waits until every live Coffer member answers /readyz with 200: it knows a leader, has applied what
   * the leader committed, its first-start objects exist and its audit log takes records, so a request
   * the test makes next is served.
   */
  async waitServing(timeoutMs = this.readyTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const i of this.live()) {
      let last = '';
      await waitUntil(async () => {
        const answer = await this.get(i, '/readyz').catch((error: Error) => ({ status: 0, body: error.message }));
        last = answer.body.trim();
        return answer.status === 200;
      }, Math.max(0, deadline - Date.now()), `member ${this.names[i]} ready`, { detail: () => last, pollMs: pollIntervalMs });
    }
  }

  /**
   * Waits until the member table names a client URL for every member: Coffer's members record their
   * URLs through the log after they start, and commands that reach every member (status, audit) use them.
   */
  async waitPublished(timeoutMs = this.readyTimeoutMs): Promise<void> {
    const client = this.client(this.live());
    await waitUntil(async () => {
      try {
        const { members } = await client.memberList();
        return members.length > 0 && members.every((m) => m.clientUrls.length > 0 && m.clientUrls[0] !== '');
      } catch {
        return false; // not ready yet: ask again
      }
    }, timeoutMs, 'every member publishes its client URL', { pollMs: pollIntervalMs });
  }

  /** Waits until member i answers status with a leader. */
  async waitMemberReady(i: number, timeoutMs = this.readyTimeoutMs): Promise<void> {
    await waitUntil(async () => {
      if ((await this.leaderSeenBy(i)) !== undefined) return true;
      if (!this.member(i).running) throw new Error(`member ${this.names[i]} exited (${String(await this.member(i).exited)})`);
      return false;
    }, timeoutMs, `member ${this.names[i]} knows a leader`, { pollMs: pollIntervalMs });
  }

  /** The index of the leader all live members agree on (waits for agreement). */
  async leader(timeoutMs = this.readyTimeoutMs): Promise<number> {
    return this.waitReady(timeoutMs);
  }

  /**
   * The leader most live members name right now, without waiting for agreement; undefined when none
   * answers with a leader. For the nemesis, which must act at once.
   */
  async currentLeader(): Promise<number | undefined> {
    const seen = await Promise.all(this.live().map((i) => this.leaderSeenBy(i)));
    const votes = new Map<string, number>();
    for (const id of seen) if (id !== undefined) votes.set(id, (votes.get(id) ?? 0) + 1);
    const best = [...votes.entries()].sort((a, b) => b[1] - a[1])[0];
    if (best === undefined) return undefined;
    const index = this.memberIds.indexOf(best[0]);
    return index >= 0 ? index : undefined;
  }

  /** The last `lines` lines of every member's log, for a failure report. */
  async logTails(lines = 60): Promise<string> {
    const parts = await Promise.all(this.members.map(async (m) => {
      const text = await readFile(m.logFile, 'utf8').catch(() => '(no log)');
      return `----- ${m.name} (${m.logFile}) -----\n${text.split('\n').slice(-lines).join('\n')}`;
    }));
    return parts.join('\n');
  }

  async describeFailure(error: unknown): Promise<string> {
    return `\ncluster ${this.backend.name} x${this.size} failed: ${error instanceof Error ? error.message : String(error)}\n`
      + `cluster dir kept: ${this.dir}\n${await this.logTails()}\n`;
  }

  /** Stops every member (SIGTERM, then SIGKILL), closes clients and proxies, removes the dir unless kept. */
  async stop(keep = this.keep): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const client of this.clients) client.close();
    await Promise.all(this.members.map((m) => m.stop()));
    await this.network.close();
    if (!keep) await rm(this.dir, { recursive: true, force: true });
  }

  private member(i: number): MemberProcess {
    const member = this.members[i];
    if (member === undefined) throw new RangeError(`no member ${i} in a cluster of ${this.size}`);
    return member;
  }

  private readonly pemCache = new Map<string, string>();
  private pem(path: string): string {
    let text = this.pemCache.get(path);
    if (text === undefined) {
      text = readFileSync(path, 'utf8');
      this.pemCache.set(path, text);
    }
    return text;
  }

  private statusClients: (KvClient | undefined)[] = [];
  /** The leader id member i reports, or undefined if it does not answer or knows none. */
  private async leaderSeenBy(i: number): Promise<string | undefined> {
    let client = this.statusClients[i];
    if (client === undefined) {
      client = this.client(i, { requestTimeoutMs: 1_000, connectTimeoutMs: 1_000 });
      this.statusClients[i] = client;
    }
    try {
      const status = await client.status();
      this.memberIds[i] = status.header.memberId;
      return status.leader === '0' ? undefined : status.leader;
    } catch (error) {
      if (isClientError(error)) return undefined;
      throw error;
    }
  }
}

/**
 * Runs `body` against a fresh cluster and always stops it; when the body fails, prints the cluster's
 * logs and keeps its directory before rethrowing.
 */
export async function withCluster<T>(options: ClusterOptions, body: (cluster: Cluster) => Promise<T>): Promise<T> {
  const cluster = await Cluster.start(options);
  try {
    const result = await body(cluster);
    await cluster.stop();
    return result;
  } catch (error) {
    process.stderr.write(await cluster.describeFailure(error));
    await cluster.stop(true);
    throw error;
  }
}

/**
 * etcd refuses a reconfiguration until the leader has seen every peer active for a few seconds
 * (--strict-reconfig-check: "unhealthy cluster", decided before anything is proposed), and both etcd and
 * Coffer refuse one until every member has started ("not enough started members") or a learner to
 * promote has caught up ("in sync with leader"); asks again until it is accepted.
 */
export async function retryUnhealthy<T>(call: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const again = isClientError(error) && /unhealthy cluster|not enough started members|in sync with leader|not connected/i.test(error.message);
      if (!again || Date.now() > deadline) throw error;
      await delay(200);
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
