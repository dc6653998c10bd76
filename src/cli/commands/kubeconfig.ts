/**
 * `coffer kubeconfig [--user U] [--dir certs] [--file F] [--force]` — a kubeconfig for kubectl that
 * reaches the first endpoint with the caller's credentials: the global --cacert/--cert/--key (and their
 * environment variables and defaults), or with --user the client certificate <dir>/clients/U.{crt,key}.
 * A certificate a member would refuse (revoked in the CA's CRL, expired) is refused here too, since
 * kubectl would only see closed connections; --force writes it anyway, with a warning.
 *
 * The kubeconfig embeds the private key: printed to standard output by default (the user asked for
 * it, as with `kubectl config view --raw`), or written with --file to a file of mode 0600.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { buildKubeconfig, caLayout, clientIdentity, privateFileMode, writeFileAtomic, x509 } from '../../pki/index.ts';
import { type ConnectionOptions, credentialFilesOf, endpointsOf } from '../connection.ts';
import { readCredentials, RefusedCredentialsError } from '../credentials.ts';
import { CliError } from '../errors.ts';
import type { CliIo } from '../io.ts';
import { k8sAction, type K8sCommandOptions } from './k8s-common.ts';

interface KubeconfigFlags extends K8sCommandOptions {
  user?: string;
  dir: string;
  file?: string;
  force: boolean;
}

export function registerKubeconfigCommand(program: Command, io: CliIo): void {
  program.command('kubeconfig')
    .description('print a kubeconfig for kubectl with your credentials (or those of --user from the CA directory)')
    .option('--user <user>', 'use the client certificate <dir>/clients/<user>.{crt,key}')
    .option('--dir <dir>', 'the CA directory --user reads from', 'certs')
    .option('--file <path>', 'write the kubeconfig to this file (mode 0600) instead of printing it')
    .option('--force', 'write it even if the certificate is revoked or expired', false)
    .action(k8sAction(async (command) => {
      const options = command.optsWithGlobals<KubeconfigFlags>();
      if (options.user !== undefined && (options.cert !== undefined || options.key !== undefined)) {
        throw new CliError('give either --user or --cert/--key, not both');
      }
      const layout = caLayout(options.dir);
      const files = options.user === undefined ? options : { ...options, cert: layout.clientCert(options.user), key: layout.clientKey(options.user) };
      const { endpoints, ca, cert, key } = await credentialsFor(files, options.force, io);
      const yaml = buildKubeconfig({ endpoints, caPem: ca, certPem: cert, keyPem: key, userName: options.user ?? userOf(cert) });
      if (options.file === undefined) {
        io.out(yaml);
        return;
      }
      await writeFileAtomic(options.file, yaml, privateFileMode);
      io.out(`wrote ${options.file} (mode 0600: it holds your key); use it with: kubectl --kubeconfig ${options.file} get secrets\n`);
    }));
}

/** The endpoints and PEM material; with `force`, a certificate a member would refuse is taken with a warning. */
async function credentialsFor(options: ConnectionOptions, force: boolean, io: CliIo): Promise<{ endpoints: string[]; ca: string; cert: string; key: string }> {
  const endpoints = endpointsOf(options, io);
  const files = credentialFilesOf(options, io);
  try {
    const tls = await readCredentials(files);
    return { endpoints, ca: tls.ca, cert: tls.cert, key: tls.key };
  } catch (error) {
    if (!(error instanceof RefusedCredentialsError)) throw error;
    if (!force) throw new CliError(`${error.message}; kubectl would be refused too (--force writes the kubeconfig anyway)`);
    io.err(`coffer: warning: ${error.message}\n`);
    const [ca, cert, key] = await Promise.all([readFile(files.ca, 'utf8'), readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
    return { endpoints, ca, cert, key };
  }
}

/** The user a client certificate names (its CN), for the kubeconfig's user entry; a generic name otherwise. */
function userOf(certPem: string): string {
  try {
    return clientIdentity(new Uint8Array(new x509.X509Certificate(certPem).rawData)).user;
  } catch {
    return 'coffer-user';
  }
}
