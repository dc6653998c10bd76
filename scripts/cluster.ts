/**
 * cluster — a local cluster of N members on loopback (INTERFACE.md, "Scripts"):
 *
 *   node --import tsx scripts/cluster.ts [--members 3] [--backend coffer|etcd]
 *
 * Member i (m1..mN) serves clients on https://127.0.0.1:(7443+10·(i−1)) and peers on 7444+10·(i−1),
 * keeps its data in data/m<i>/ and its log in data/logs/m<i>.log. Certificates come from certs/: the CA
 * is bootstrapped (members m1..mN) if there is none, and missing member certificates are issued from
 * the existing CA (COFFER_CA_PASSPHRASE if its key is encrypted). Coffer members unseal with the
 * development key file certs/dev-unseal.key (created if missing — a development set-up only).
 * `--backend etcd` starts etcd 3.4 with the same ports, certificates and layout, for comparison.
 * Ctrl-C (or SIGTERM) stops every member; running it again reuses the CA, the key and the data.
 */
import { Command } from 'commander';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isClientError, KvClient } from '../src/client/index.ts';
import { bootstrapCa, bootstrapDefaults, caLayout, issueMember, loadCa } from '../src/pki/index.ts';
import { backendNamed, certsIn, delay, MemberProcess, repoRoot } from '../test/support/cluster/index.ts';

const clientPortBase = 7443;
const peerPortBase = 7444;
const portStride = 10;
const membersMax = 9;

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

await ensureCertificates();
const certs = certsIn(certsDir);
const keyFile = join(certsDir, 'dev-unseal.key');
const initialCluster = names.map((name, i) => `${name}=https://127.0.0.1:${peerPort(i)}`).join(',');
await mkdir(join(dataDir, 'logs'), { recursive: true });

const members = names.map((name) => new MemberProcess(name, join(dataDir, 'logs', `${name}.log`)));
let stopping = false;
for (const [i, name] of names.entries()) {
  const spec = {
    index: i, name, dataDir: join(dataDir, name), clientPort: clientPort(i), peerPort: peerPort(i),
    initialCluster, advertisedPeerUrl: `https://127.0.0.1:${peerPort(i)}`, certs, keyFile,
  };
  if (backend.name === 'coffer' && !existsSync(keyFile)) {
    process.stdout.write(`cluster: DEVELOPMENT SET-UP: creating unseal key file ${keyFile} (mode 0600); use a passphrase or KMS in production\n`);
  }
  await backend.prepare(spec);
  const member = members[i] as MemberProcess;
  member.start(backend.command(spec));
  void member.exited.then(async (how) => {
    if (stopping) return;
    const log = await readFile(member.logFile, 'utf8').catch(() => '');
    process.stderr.write(`cluster: member ${name} exited (${String(how)}); last lines of ${member.logFile}:\n${log.split('\n').slice(-20).join('\n')}\n`);
  });
}

const stop = async (signal: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`\ncluster: ${signal}: stopping ${names.join(', ')}\n`);
  await Promise.all(members.map((m) => m.stop()));
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

const endpoints = names.map((_, i) => `https://127.0.0.1:${clientPort(i)}`);
process.stdout.write(`cluster: starting ${backend.name} members ${names.join(', ')}; logs in ${join(dataDir, 'logs')}/\n`);
await waitForLeader();
process.stdout.write([
  `cluster: ready. Client endpoints: ${endpoints.join(',')}`,
  `  export COFFER_ENDPOINTS=${endpoints.join(',')}`,
  `  admin credentials: ${certs.clientCert} ${certs.clientKey} (CA ${certs.ca})`,
  '  npx coffer status',
  `  npm run bench -- --endpoints ${endpoints.join(' ')} --op put --clients 16 --duration 10s`,
  'Ctrl-C stops all members.',
  '',
].join('\n'));

/** The CA with a certificate for every member: bootstrapped when absent, completed when some are missing. */
async function ensureCertificates(): Promise<void> {
  const layout = caLayout(certsDir);
  if (!existsSync(layout.caCert)) {
    process.stdout.write(`cluster: no CA in ${certsDir}; bootstrapping one for ${names.join(', ')}\n`);
    const passphrase = process.env.COFFER_CA_PASSPHRASE === '' ? undefined : process.env.COFFER_CA_PASSPHRASE;
    await bootstrapCa({ dir: certsDir, members: names, ...(passphrase === undefined ? {} : { passphrase }) });
    return;
  }
  const missing = names.filter((name) => !existsSync(layout.memberCert(name)));
  if (missing.length === 0) return;
  process.stdout.write(`cluster: issuing member certificates for ${missing.join(', ')} from the CA in ${certsDir}\n`);
  const signer = await loadCa(certsDir, process.env.COFFER_CA_PASSPHRASE === '' ? undefined : process.env.COFFER_CA_PASSPHRASE);
  for (const name of missing) await issueMember(signer, { name, hosts: bootstrapDefaults.hosts });
}

/** Polls every member's status until all name the same leader and report no problem (no fixed sleep). */
async function waitForLeader(): Promise<void> {
  const tls = { cert: await readFile(certs.clientCert, 'utf8'), key: await readFile(certs.clientKey, 'utf8'), ca: await readFile(certs.ca, 'utf8') };
  const clients = endpoints.map((endpoint) => new KvClient({ endpoints: [endpoint], tls, requestTimeoutMs: 1_000 }));
  try {
    for (;;) {
      if (stopping) return;
      const leaders = await Promise.all(clients.map(async (c) => {
        try {
          const status = await c.status();
          // A member that reports a problem (its audit log not open yet, say) cannot serve yet.
          return status.leader === '0' || status.errors.length > 0 ? undefined : status.leader;
        } catch (error) {
          if (isClientError(error)) return undefined;
          throw error;
        }
      }));
      if (leaders.every((l) => l !== undefined && l === leaders[0])) return;
      await delay(100);
    }
  } finally {
    for (const c of clients) c.close();
  }
}
