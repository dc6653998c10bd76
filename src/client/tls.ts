/**
 * Where the client's mutual-TLS material comes from: PEM files (a client or member certificate, its
 * key, the Coffer CA), or options already built by pki's clientTlsOptions.
 */
import { readFile } from 'node:fs/promises';
import { type ConnectionOptions, createSecureContext } from 'node:tls';

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

/**
 * Throws a TypeError naming the problem when the TLS options cannot make a connection at all (a key
 * that is not the certificate's, PEM that does not parse) — found when a client is built, not as a
 * failure of its first request.
 */
export function checkTlsOptions(tls: ConnectionOptions): void {
  try {
    createSecureContext(tls);
  } catch (error) {
    throw new TypeError(`the client's TLS material cannot be used: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
