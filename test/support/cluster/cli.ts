/**
 * The `coffer` executable as users run it against a test cluster: a child process with the cluster's
 * endpoints and admin credentials, and the wait for the first-start objects the CLI tests rely on.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { isK8sApiError, K8sClient } from '../../../src/client/index.ts';
import { cofferEntry, repoRoot } from './backends.ts';
import { type Cluster, delay } from './cluster.ts';

const run = promisify(execFile);

export interface CliResult {
  stdout: string;
  stderr: string;
  /** The exit status; 0 on success. */
  code: number;
}

/** Runs `coffer …args` with every member of `cluster` as an endpoint and the admin's certificate. */
export async function runCoffer(cluster: Cluster, ...args: string[]): Promise<CliResult> {
  const flags = ['--endpoints', cluster.names.map((_, i) => cluster.clientUrl(i)).join(','), '--cacert', cluster.certs.ca,
    '--cert', cluster.certs.clientCert, '--key', cluster.certs.clientKey];
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', cofferEntry, ...flags, ...args], { cwd: repoRoot });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failure = error as { stdout: string; stderr: string; code: number };
    return { stdout: failure.stdout, stderr: failure.stderr, code: failure.code };
  }
}

/** The first-start bootstrap (namespaces, default policies) runs once there is a leader: wait for it. */
export async function waitBootstrapped(cluster: Cluster): Promise<void> {
  const client = new K8sClient({ endpoints: [cluster.clientUrl(0)], tls: cluster.clientTls() });
  try {
    for (;;) {
      try {
        await client.get('clusterrolebindings', 'cluster-admin');
        await client.get('namespaces', 'default');
        return;
      } catch (error) {
        if (!isK8sApiError(error) || error.reason !== 'NotFound') throw error;
        await delay(20);
      }
    }
  } finally {
    client.close();
  }
}
