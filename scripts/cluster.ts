/**
 * cluster — a local cluster of N members on loopback (the README's "A three-member cluster"):
 *
 *   node --import tsx scripts/cluster.ts [--members 3] [--backend coffer|etcd]
 *
 * Member i (m1..mN) serves clients on https://127.0.0.1:(7443+10·(i−1)) and peers on 7444+10·(i−1),
 * keeps its data in data/m<i>/ and its log in data/logs/m<i>.log. Certificates come from certs/: the CA
 * is bootstrapped (members m1..mN) if there is none, and missing member certificates are issued from
 * the existing CA (COFFER_CA_PASSPHRASE if its key is encrypted). Member i unseals with its key file
 * certs/members/m<i>.unseal.key, made with its certificate if missing (one there must be the caller's
 * own private key file, or the script ends with one line naming it) — a development set-up, with the
 * keys beside the certificates. `--backend etcd` starts etcd 3.4 with the same ports, certificates and
 * layout, for comparison.
 *
 * Before anything starts, every port is checked: one that is taken ends the script with one line
 * naming the port and the process holding it — unless it is held by that very member of this cluster
 * (a process with the member's --name and --data-dir), which is then left running: run again while some
 * members run (one was stopped, or crashed), the script starts only the others, so a stopped member
 * comes back and catches up. Then each member it started is reported ready (its /readyz, which the
 * audit policy does not record, so waiting leaves no trace in the audit log), or the first that fails
 * is named with the last lines of its log, and the others it started are stopped; so are they when the
 * members, each ready, answer for more than one cluster (a data dir left by a run with other members
 * keeps its own cluster), the script naming the dirs that hold another cluster, and at once when a
 * member's data dir names more voters than the run starts, too many to elect a leader without them.
 * Ctrl-C (or SIGTERM) stops every member it started; running it again reuses the CA, the keys and the
 * data.
 */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KvClient } from '../src/client/index.ts';
import { statusRequestTimeoutMs } from '../src/config/index.ts';
import { createKeyFile, KeyFileError, ownKeyFileExists } from '../src/crypto/index.ts';
import { bootstrapCa, bootstrapDefaults, caLayout, issueMember, loadCa } from '../src/pki/index.ts';
import { backendNamed, certsIn, delay, MemberProcess, repoRoot } from '../test/support/cluster/index.ts';
import { describeListener, type PortListener, portListener } from './port-holder.ts';
import { answersOk, readyPollMs } from './readiness.ts';

const clientPortBase = 7443;
const peerPortBase = 7444;
const portStride = 10;
const membersMax = 9;
/** How long members may take to become ready (elect a leader, apply their log) before the start counts as failed. */
const readyTimeoutMs = 60_000;
const logTailLines = 20;

function memberCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > membersMax) throw new Error(`--members "${value}" must be a whole number in [1, ${membersMax}]`);
  return n;
}

const program = new Command('cluster')
  .description('start a local Coffer cluster on loopback; Ctrl-C stops it')
  .option('--members <n>', 'number of members', memberCount, 3)
  .option('--backend <name>', 'coffer, or etcd for comparison', 'coffer')
  .option('--certs <dir>', 'CA directory', 'certs')
  .option('--data <dir>', 'data directory (member i uses <dir>/m<i>)', 'data')
  .showSuggestionAfterError(true);
program.parse();
const options = program.opts<{ members: number; backend: string; certs: string; data: string }>();

const backend = backendNamed(options.backend);
const certsDir = resolve(repoRoot, options.certs);
const dataDir = resolve(repoRoot, options.data);
const names = Array.from({ length: options.members }, (_, i) => `m${i + 1}`);
const clientPort = (i: number): number => clientPortBase + portStride * i;
const peerPort = (i: number): number => peerPortBase + portStride * i;
const endpoints = names.map((_, i) => `https://127.0.0.1:${clientPort(i)}`);

/** Members of this cluster already running, by index: their ports are held by the member itself. */
const alreadyRunning = new Map<number, number>();
for (const [i, name] of names.entries()) {
  for (const [port, what] of [[clientPort(i), 'client'], [peerPort(i), 'peer']] as const) {
    const holder = await portListener(port);
    if (holder === undefined) continue;
    if (holder !== null && isMember(holder, name)) {
      alreadyRunning.set(i, holder.pid);
      continue;
    }
    fail(`port ${port} (${name}'s ${what} port) is in use by ${describeListener(holder)}; stop it first (npm start and npm run cluster both use 7443)`);
  }
}
const toStart = names.flatMap((_, i) => (alreadyRunning.has(i) ? [] : [i]));
if (alreadyRunning.size > 0) {
  const running = [...alreadyRunning].sort(([a], [b]) => a - b).map(([i, pid]) => `${names[i] ?? ''} (pid ${pid})`).join(', ');
  if (toStart.length === 0) {
    process.stdout.write(`cluster: every member is already running with its data in ${dataDir}/: ${running}; nothing to start\n`);
    process.exit(0);
  }
  process.stdout.write(`cluster: already running with their data in ${dataDir}/: ${running}; starting only ${toStart.map((i) => names[i]).join(', ')}\n`);
}

await ensureCertificates();
const certs = certsIn(certsDir);
const initialCluster = names.map((name, i) => `${name}=https://127.0.0.1:${peerPort(i)}`).join(',');
await mkdir(join(dataDir, 'logs'), { recursive: true });

const members = toStart.map((i) => new MemberProcess(names[i] as string, join(dataDir, 'logs', `${names[i]}.log`)));
let stopping = false;
const stop = async (signal: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`\ncluster: ${signal}: stopping ${members.map((m) => m.name).join(', ')}\n`);
  await Promise.all(members.map((m) => m.stop()));
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

process.stdout.write(`cluster: starting ${backend.name} members ${members.map((m) => m.name).join(', ')}; logs in ${join(dataDir, 'logs')}/\n`);
for (const [at, i] of toStart.entries()) {
  const name = names[i] as string;
  const spec = {
    index: i, name, dataDir: join(dataDir, name), clientPort: clientPort(i), peerPort: peerPort(i),
    initialCluster, advertisedPeerUrl: `https://127.0.0.1:${peerPort(i)}`, certs, keyFile: caLayout(certsDir).memberUnsealKey(name),
  };
  await backend.prepare(spec);
  (members[at] as MemberProcess).start(backend.command(spec));
}

const failure = await waitReady() ?? await splitAcrossClusters();
if (failure !== undefined) {
  stopping = true;
  process.stderr.write(failure);
  await Promise.all(members.map((m) => m.stop()));
  process.exit(1);
}
for (const member of members) {
  void member.exited.then(async (how) => {
    if (!stopping) process.stderr.write(`cluster: member ${member.name} exited (${String(how)}); ${await logTail(member)}`);
  });
}
process.stdout.write([
  `cluster: ready. Client endpoints: ${endpoints.join(',')}`,
  `  export COFFER_ENDPOINTS=${endpoints.join(',')}`,
  `  admin credentials: ${certs.clientCert} ${certs.clientKey} (CA ${certs.ca})`,
  '  coffer status',
  `  npm run bench -- --endpoints ${endpoints.join(' ')} --op put --clients 16 --duration 10s`,
  alreadyRunning.size === 0 ? 'Ctrl-C stops all members.' : `Ctrl-C stops ${members.map((m) => m.name).join(', ')} (the others were running already).`,
  '',
].join('\n'));

/** Whether `holder` is member `name` of this cluster: its --name, and its --data-dir that member's. */
function isMember(holder: PortListener, name: string): boolean {
  const flag = (key: string) => {
    const at = holder.args.indexOf(key);
    return at < 0 ? undefined : holder.args[at + 1];
  };
  const dir = flag('--data-dir');
  return flag('--name') === name && dir !== undefined && resolve(holder.cwd, dir) === join(dataDir, name);
}

function fail(line: string): never {
  process.stderr.write(`cluster: ${line}\n`);
  process.exit(1);
}

/** The CA with a certificate and an unseal key for every member: bootstrapped when absent, completed when some are missing. */
async function ensureCertificates(): Promise<void> {
  const layout = caLayout(certsDir);
  const passphrase = process.env.COFFER_CA_PASSPHRASE === '' ? undefined : process.env.COFFER_CA_PASSPHRASE;
  if (!existsSync(layout.caCert)) {
    process.stdout.write(`cluster: no CA in ${certsDir}; bootstrapping one for ${names.join(', ')}\n`);
    await bootstrapCa({ dir: certsDir, members: names, ...(passphrase === undefined ? {} : { passphrase }) });
  }
  const missing = names.filter((name) => !existsSync(layout.memberCert(name)));
  if (missing.length > 0) {
    process.stdout.write(`cluster: issuing member certificates for ${missing.join(', ')} from the CA in ${certsDir}\n`);
    const signer = await loadCa(certsDir, passphrase);
    for (const name of missing) await issueMember(signer, { name, hosts: bootstrapDefaults.hosts });
  }
  if (backend.name !== 'coffer') return;
  const keyless: string[] = [];
  for (const name of names) {
    const kept = await ownKeyFileExists(layout.memberUnsealKey(name)).catch((error: unknown) => {
      if (error instanceof KeyFileError) fail(error.message);
      throw error;
    });
    if (!kept) keyless.push(name);
  }
  if (keyless.length === 0) return;
  process.stdout.write(`cluster: DEVELOPMENT SET-UP: creating unseal keys certs/members/{${keyless.join(',')}}.unseal.key (mode 0600) ` +
    'beside the certificates; use a passphrase or KMS in production\n');
  for (const name of keyless) await createKeyFile(layout.memberUnsealKey(name));
}

/**
 * Reports each member as it becomes ready; undefined once all are, otherwise what to print: the first
 * member that exited, or those not ready by the deadline, each with the last lines of its log.
 */
async function waitReady(): Promise<string | undefined> {
  const tls = await adminTls();
  const path = backend.name === 'coffer' ? '/readyz' : '/health';
  const ready = new Set<number>();
  // Members whose table said this run starts a majority of their voters: not asked again.
  const quorumInReach = new Set<number>();
  const deadline = Date.now() + readyTimeoutMs;
  while (ready.size < members.length) {
    const exited = members.find((m) => !m.running);
    if (exited !== undefined) return `cluster: member ${exited.name} failed (${String(await exited.exited)}); ${await logTail(exited)}`;
    if (Date.now() > deadline) {
      const late = members.filter((_, i) => !ready.has(i));
      const tails = await Promise.all(late.map((m) => logTail(m)));
      return `cluster: ${late.map((m) => m.name).join(', ')} not ready within ${readyTimeoutMs / 1000} s; ${tails.join('')}`;
    }
    let outOfReach: string | undefined;
    await Promise.all(members.map(async (member, at) => {
      const endpoint = endpoints[toStart[at] as number] ?? '';
      if (ready.has(at)) return;
      if (!(await answersOk(`${endpoint}${path}`, tls))) {
        if (backend.name !== 'coffer' || quorumInReach.has(at)) return;
        const verdict = await quorumOutOfReach(member.name, endpoint, tls);
        if (verdict?.problem === undefined) {
          if (verdict !== undefined) quorumInReach.add(at);
        } else {
          outOfReach ??= verdict.problem;
        }
        return;
      }
      ready.add(at);
      process.stdout.write(`cluster: ${member.name} ready on ${endpoint}\n`);
    }));
    if (outOfReach !== undefined) return outOfReach;
    if (ready.size < members.length) await delay(readyPollMs);
  }
  return undefined;
}

/**
 * Whether member `name` (not ready) belongs to a cluster whose voters this run cannot bring to a quorum
 * — its data dir was left by a run with more members (3, then `--members 1`), so it would wait for a
 * leader forever — and then what to print (`problem`); undefined while its member table is not known
 * (it does not answer yet, or has not applied its first entries).
 */
async function quorumOutOfReach(name: string, endpoint: string, tls: AdminTls): Promise<{ problem?: string } | undefined> {
  const client = new KvClient({ endpoints: [endpoint], tls });
  try {
    const voters = (await client.memberList({ serializable: true, timeoutMs: statusRequestTimeoutMs })).members.filter((m) => !m.isLearner);
    const started = voters.filter((m) => names.includes(m.name));
    // A member that has not applied its first entries yet lists no one.
    if (voters.length === 0) return undefined;
    if (started.length > voters.length / 2) return {};
    const others = voters.filter((m) => !names.includes(m.name)).map((m) => m.name || m.id);
    return {
      problem: `cluster: ${join(dataDir, name)} belongs to a cluster of ${voters.length} voters (${voters.map((m) => m.name || m.id).join(', ')}), `
        + `and this run starts ${started.length} of them, too few to elect a leader without ${others.join(', ')}: run with --members `
        + `${voters.length}, or remove ${dataDir}/ (its data is lost) or pass --data <another dir>\n`,
    };
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

/**
 * Undefined when every member answers for one cluster; otherwise what to print. A data dir keeps the
 * cluster it was first started in, whatever --initial-cluster says later: a dir left by a run with other
 * members (`--members 1`, then 3) makes its member a cluster of its own beside the others, each ready.
 */
async function splitAcrossClusters(): Promise<string | undefined> {
  const tls = await adminTls();
  const byCluster = new Map<string, string[]>();
  await Promise.all(names.map(async (name, i) => {
    const client = new KvClient({ endpoints: [endpoints[i] ?? ''], tls });
    try {
      const { clusterId } = (await client.status({ timeoutMs: statusRequestTimeoutMs })).header;
      byCluster.set(clusterId, [...(byCluster.get(clusterId) ?? []), name].sort());
    } catch {
      // Ready a moment ago: a member that does not answer now is not a sign of a second cluster.
    } finally {
      client.close();
    }
  }));
  if (byCluster.size < 2) return undefined;
  const groups = [...byCluster].sort(([, a], [, b]) => b.length - a.length);
  const [, largest] = groups[0] as [string, string[]];
  const others = groups.slice(1).flatMap(([, group]) => group);
  const answers = groups.map(([id, group]) => `${group.join(', ')} for cluster ${id}`).join('; ');
  return `cluster: the members do not form one cluster (${answers}): ${others.map((n) => join(dataDir, n)).join(', ')} `
    + `holds another cluster's data than ${largest.join(', ')} (left by a run with other members?); `
    + `remove ${dataDir}/ (its data is lost) or pass --data <another dir>, and run again\n`;
}

type AdminTls = { cert: string; key: string; ca: string };

/** The admin client's certificate, key and CA, as the script asks the members with them. */
async function adminTls(): Promise<AdminTls> {
  return { cert: await readFile(certs.clientCert, 'utf8'), key: await readFile(certs.clientKey, 'utf8'), ca: await readFile(certs.ca, 'utf8') };
}

async function logTail(member: MemberProcess): Promise<string> {
  const text = await readFile(member.logFile, 'utf8').catch(() => '');
  return `last lines of ${member.logFile}:\n${text.trimEnd().split('\n').slice(-logTailLines).join('\n')}\n`;
}
