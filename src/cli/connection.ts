/**
 * How a command reaches the cluster: the global flags --endpoints, --cacert, --cert and --key (each
 * also an environment variable, flags winning), defaulting to the embedded set-up's admin credentials.
 * Endpoints must be https:// URLs, and the credentials are checked here before any connection
 * (credentials.ts); either problem is one CliError saying what to write instead.
 */
import { type Command, Option } from 'commander';
import { KvClient, type KvClientOptions } from '../client/index.ts';
import { type CredentialFiles, readCredentials } from './credentials.ts';
import { CliError } from './errors.ts';
import { type CliIo, envValue } from './io.ts';

export interface ConnectionOptions {
  endpoints?: string;
  cacert?: string;
  cert?: string;
  key?: string;
}

const defaultEndpoint = 'https://127.0.0.1:7443';

export function addConnectionOptions(program: Command): void {
  program
    .addOption(new Option('--endpoints <urls>', `comma-separated member client URLs (COFFER_ENDPOINTS; default ${defaultEndpoint})`))
    .addOption(new Option('--cacert <file>', 'the Coffer CA certificate (COFFER_CACERT; default certs/ca.crt)'))
    .addOption(new Option('--cert <file>', 'your client certificate (COFFER_CERT; default certs/clients/admin.crt)'))
    .addOption(new Option('--key <file>', 'your client key (COFFER_KEY; default certs/clients/admin.key)'));
}

export async function connectionSettings(options: ConnectionOptions, io: CliIo): Promise<KvClientOptions> {
  return { endpoints: endpointsOf(options, io), tls: await readCredentials(credentialFilesOf(options, io)) };
}

/** The endpoints of --endpoints, COFFER_ENDPOINTS or the default, checked (parseEndpoints). */
export function endpointsOf(options: ConnectionOptions, io: CliIo): string[] {
  const given = options.endpoints ?? envValue(io, 'COFFER_ENDPOINTS');
  return parseEndpoints(given ?? defaultEndpoint, options.endpoints !== undefined ? '--endpoints' : 'COFFER_ENDPOINTS');
}

/** Which files --cacert, --cert and --key (or their variables and defaults) name. */
export function credentialFilesOf(options: ConnectionOptions, io: CliIo): CredentialFiles {
  return {
    ca: options.cacert ?? envValue(io, 'COFFER_CACERT') ?? 'certs/ca.crt',
    cert: options.cert ?? envValue(io, 'COFFER_CERT') ?? 'certs/clients/admin.crt',
    key: options.key ?? envValue(io, 'COFFER_KEY') ?? 'certs/clients/admin.key',
  };
}

export async function connect(options: ConnectionOptions, io: CliIo): Promise<KvClient> {
  return new KvClient(await connectionSettings(options, io));
}

/** `https://host:port,…` as the clients take them; anything else is a CliError saying what to write. */
export function parseEndpoints(text: string, source: string): string[] {
  const endpoints = text.split(',').map((e) => e.trim()).filter((e) => e !== '');
  if (endpoints.length === 0) throw new CliError(`${source} names no endpoint: give https://host:port,…`);
  for (const endpoint of endpoints) {
    const bad = (problem: string) => new CliError(`endpoint ${JSON.stringify(endpoint)} (${source}) ${problem}`);
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) throw bad(`has no scheme: write https://${endpoint}`);
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw bad('is not a URL: write https://host:port');
    }
    if (url.protocol === 'http:') throw bad(`uses http://: members speak only mutual TLS, write https://${url.host}`);
    if (url.protocol !== 'https:') throw bad(`is not an https:// URL: write https://${url.host === '' ? 'host:port' : url.host}`);
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '') throw bad(`must be https://host:port alone: write https://${url.host}`);
  }
  return endpoints;
}
