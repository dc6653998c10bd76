/**
 * How to start one member of each kind of cluster the harness drives. Both take the same facts (name,
 * ports, the peer URLs this member must dial, certificates) and return a command line.
 *
 * - coffer: `coffer server` as the README names its flags; each member gets its own
 *   --initial-cluster (its own URL real, the others' through its proxies), which Coffer allows
 *   because it derives the cluster and member ids from names, not URLs. Unsealed with a key file
 *   made by crypto's createKeyFile.
 * - etcd: Debian's etcd 3.4 with client and peer mutual TLS and fsync on; every member advertises its
 *   proxy URL (the network's 'target' mode), since etcd derives member ids from peer URLs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKeyFile } from '../../../src/crypto/index.ts';
import type { ClusterCerts } from './certs.ts';
import type { Spawn } from './process.ts';

export type BackendName = 'coffer' | 'etcd';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** The `coffer` executable's source (package.json "bin" is its build). */
export const cofferEntry = join(repoRoot, 'src/server/coffer.ts');

export interface MemberSpec {
  index: number;
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  /** name=url for every member, as this member must dial them. */
  initialCluster: string;
  /** The URL other members reach this member at (its proxy for etcd). */
  advertisedPeerUrl: string;
  certs: ClusterCerts;
  /** Unseal key file (coffer). */
  keyFile: string;
  /** Set for a member added to a running cluster: what member add returned. */
  join?: { memberId: string; clusterId: string };
}

export interface Backend {
  name: BackendName;
  /** How peers are proxied (see network.ts). */
  networkMode: 'pair' | 'target';
  /** The longest a follower waits for the leader before campaigning (the randomised upper bound). */
  electionTimeoutMs: number;
  /** Called once per member before its first start. */
  prepare(spec: MemberSpec): Promise<void>;
  command(spec: MemberSpec): Spawn;
}

/** The `coffer` command as `npm install` builds it (package.json "bin"), the one an installed member runs. */
export const cofferBuildEntry = join(repoRoot, 'dist/src/server/coffer.js');

/** Coffer members started by `node <entry…> server`. */
function cofferMembersRunning(entry: readonly string[]): Backend {
  return {
    name: 'coffer',
    networkMode: 'pair',
    electionTimeoutMs: 2_000, // electionTicks 10 × tickMs 100, randomised up to twice that
    async prepare(spec) {
      if (!existsSync(spec.keyFile)) await createKeyFile(spec.keyFile);
    },
    command(spec) {
      const { certs } = spec;
      return {
        command: process.execPath,
        cwd: repoRoot,
        args: [
          ...entry, 'server',
          '--name', spec.name,
          '--data-dir', spec.dataDir,
          '--listen-client', `https://127.0.0.1:${spec.clientPort}`,
          '--listen-peer', `https://127.0.0.1:${spec.peerPort}`,
          '--initial-cluster', spec.initialCluster,
          '--cert', certs.memberCert(spec.name),
          '--key', certs.memberKey(spec.name),
          '--cacert', certs.ca,
          '--crl', certs.crl,
          '--unseal-key-file', spec.keyFile,
          ...(spec.join === undefined ? [] : ['--join', '--member-id', spec.join.memberId, '--cluster-id', spec.join.clusterId]),
        ],
      };
    },
  };
}

/** Members run from the source through the TypeScript loader: what the tests run, with no build needed. */
export const cofferBackend: Backend = cofferMembersRunning(['--import', 'tsx', cofferEntry]);

/** Members run from the build in dist/, as an installed `coffer server` runs: what the bench measures (it builds first). */
export const cofferBuildBackend: Backend = cofferMembersRunning([cofferBuildEntry]);

export const etcdBinary = process.env.ETCD_BIN ?? '/usr/bin/etcd';

export const etcdBackend: Backend = {
  name: 'etcd',
  networkMode: 'target',
  electionTimeoutMs: 1_000, // etcd's --election-timeout default
  prepare() {
    if (!existsSync(etcdBinary)) installEtcd();
    if (!existsSync(etcdBinary)) {
      return Promise.reject(new Error(`${etcdBinary} not found: apt-get install -y etcd-server (or set ETCD_BIN)`));
    }
    return Promise.resolve();
  },
  command(spec) {
    const { certs } = spec;
    const clientUrl = `https://127.0.0.1:${spec.clientPort}`;
    return {
      command: etcdBinary,
      args: [
        '--name', spec.name,
        '--data-dir', spec.dataDir,
        '--listen-client-urls', clientUrl,
        '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', `https://127.0.0.1:${spec.peerPort}`,
        '--initial-advertise-peer-urls', spec.advertisedPeerUrl,
        '--initial-cluster', spec.initialCluster,
        '--initial-cluster-state', spec.join === undefined ? 'new' : 'existing',
        '--initial-cluster-token', 'coffer-test',
        '--cert-file', certs.memberCert(spec.name),
        '--key-file', certs.memberKey(spec.name),
        '--trusted-ca-file', certs.ca,
        '--client-cert-auth',
        '--peer-cert-file', certs.memberCert(spec.name),
        '--peer-key-file', certs.memberKey(spec.name),
        '--peer-trusted-ca-file', certs.ca,
        '--peer-client-cert-auth',
        '--logger', 'zap',
        '--log-outputs', 'stderr',
      ],
      env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' },
    };
  },
};

/** Debian's etcd-server (docs/performance.md), installed through apt-get when missing. */
function installEtcd(): void {
  if (etcdBinary !== '/usr/bin/etcd' || process.getuid?.() !== 0) return;
  process.stderr.write('# etcd not found: apt-get install -y etcd-server\n');
  spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'etcd-server'], {
    stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 300_000,
  });
}

export function backendNamed(name: string): Backend {
  if (name === 'coffer') return cofferBackend;
  if (name === 'etcd') return etcdBackend;
  throw new Error(`unknown cluster backend ${JSON.stringify(name)} (coffer or etcd)`);
}

/**
 * The backend the harness starts by default: COFFER_CLUSTER_BACKEND=etcd asks for etcd (to compare),
 * anything else is Coffer. There is no fallback: a Coffer that does not start fails the test.
 */
export function defaultBackendName(): BackendName {
  return process.env.COFFER_CLUSTER_BACKEND === 'etcd' ? 'etcd' : 'coffer';
}
