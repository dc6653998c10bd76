/**
 * Where the client's mutual-TLS material comes from: PEM files (a client or member certificate, its
 * key, the Coffer CA), or options already built by pki's clientTlsOptions.
 */
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';

export interface TlsFilePaths {
  cert: string;
  key: string;
  ca: string;
}

/** TLS options for dialing: the CA replaces node's public roots, and the server must verify against it. */
export async function tlsFromFiles(paths: TlsFilePaths): Promise<ConnectionOptions> {
  const [cert, key, ca] = await Promise.all([readFile(paths.cert, 'utf8'), readFile(paths.key, 'utf8'), readFile(paths.ca, 'utf8')]);
  return { cert, key, ca, rejectUnauthorized: true };
}
