/**
 * How a command reaches the cluster: the global flags --endpoints, --cacert, --cert and --key (each
 * also an environment variable, flags winning), defaulting to the embedded set-up's admin credentials.
 */
import { type Command, Option } from 'commander';
import { KvClient, type KvClientOptions, tlsFromFiles } from '../client/index.ts';
import { type CliIo, envValue } from './io.ts';

export interface ConnectionOptions {
  endpoints?: string;
  cacert?: string;
  cert?: string;
  key?: string;
}

export function addConnectionOptions(program: Command): void {
  program
    .addOption(new Option('--endpoints <urls>', 'comma-separated member client URLs (COFFER_ENDPOINTS)'))
    .addOption(new Option('--cacert <file>', 'the Coffer CA certificate (COFFER_CACERT)'))
    .addOption(new Option('--cert <file>', 'your client certificate (COFFER_CERT)'))
    .addOption(new Option('--key <file>', 'your client key (COFFER_KEY)'));
}

export async function connectionSettings(options: ConnectionOptions, io: CliIo): Promise<KvClientOptions> {
  const endpoints = (options.endpoints ?? envValue(io, 'COFFER_ENDPOINTS') ?? 'https://127.0.0.1:7443')
    .split(',').map((e) => e.trim()).filter((e) => e !== '');
  const tls = await tlsFromFiles({
    ca: options.cacert ?? envValue(io, 'COFFER_CACERT') ?? 'certs/ca.crt',
    cert: options.cert ?? envValue(io, 'COFFER_CERT') ?? 'certs/clients/admin.crt',
    key: options.key ?? envValue(io, 'COFFER_KEY') ?? 'certs/clients/admin.key',
  });
  return { endpoints, tls };
}

export async function connect(options: ConnectionOptions, io: CliIo): Promise<KvClient> {
  return new KvClient(await connectionSettings(options, io));
}
