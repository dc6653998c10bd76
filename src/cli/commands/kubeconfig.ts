/**
 * `coffer kubeconfig [--user U] [--dir certs] [--file F]` — a kubeconfig for kubectl that reaches
 * the first endpoint with the caller's credentials: the global --cacert/--cert/--key (and their
 * environment variables and defaults), or with --user the client certificate <dir>/clients/U.{crt,key}.
 *
 * The kubeconfig embeds the private key: printed to standard output by default (the user asked for
 * it, as with `kubectl config view --raw`), or written with --file to a file of mode 0600.
 */
import type { Command } from 'commander';
import { caLayout, clientIdentity, privateFileMode, buildKubeconfig, writeFileAtomic, x509 } from '../../pki/index.ts';
import type { CliIo } from '../io.ts';
import { CliError, k8sAction, type K8sCommandOptions, readConnection } from './k8s-common.ts';

interface KubeconfigFlags extends K8sCommandOptions {
  user?: string;
  dir: string;
  file?: string;
}

export function registerKubeconfigCommand(program: Command, io: CliIo): void {
  program.command('kubeconfig')
    .description('print a kubeconfig for kubectl with your credentials (or those of --user from the CA directory)')
    .option('--user <user>', 'use the client certificate <dir>/clients/<user>.{crt,key}')
    .option('--dir <dir>', 'the CA directory --user reads from', 'certs')
    .option('--file <path>', 'write the kubeconfig to this file (mode 0600) instead of printing it')
    .action(k8sAction(async (command) => {
      const options = command.optsWithGlobals<KubeconfigFlags>();
      if (options.user !== undefined && (options.cert !== undefined || options.key !== undefined)) {
        throw new CliError('give either --user or --cert/--key, not both');
      }
      const layout = caLayout(options.dir);
      const files = options.user === undefined ? options : { ...options, cert: layout.clientCert(options.user), key: layout.clientKey(options.user) };
      const settings = await readConnection(files, io);
      const { ca, cert, key } = settings.tls;
      if (typeof ca !== 'string' || typeof cert !== 'string' || typeof key !== 'string') throw new CliError('the CA, certificate and key must be PEM files');
      const yaml = buildKubeconfig({ endpoints: settings.endpoints, caPem: ca, certPem: cert, keyPem: key, userName: options.user ?? userOf(cert) });
      if (options.file === undefined) {
        io.out(yaml);
        return;
      }
      await writeFileAtomic(options.file, yaml, privateFileMode);
      io.out(`wrote ${options.file}; use it with: kubectl --kubeconfig ${options.file} get secrets\n`);
    }));
}

/** The user a client certificate names (its CN), for the kubeconfig's user entry; a generic name otherwise. */
function userOf(certPem: string): string {
  try {
    return clientIdentity(new Uint8Array(new x509.X509Certificate(certPem).rawData)).user;
  } catch {
    return 'coffer-user';
  }
}
