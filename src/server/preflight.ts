/**
 * What `coffer server` checks before it touches the data dir, so a start refused for a reason known
 * up front writes nothing: the member certificate names this member (another member's certificate
 * would let it speak to its peers as that member), and the client and peer addresses can be listened
 * on. (A port taken between this check and the listen still fails the start; first-start.ts then cleans up.)
 */
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:net';
import { type ServerConfig, ServerConfigError } from '../config/index.ts';
import { isPkiError, memberIdentity, type TlsMaterial } from '../pki/index.ts';

export function checkCertificateNamesMember(material: TlsMaterial, name: string): void {
  let named: string;
  try {
    named = memberIdentity(new X509Certificate(material.cert).raw);
  } catch (error) {
    if (isPkiError(error)) throw new ServerConfigError('cert', `${material.files.cert} is not a member certificate: ${error.message}`);
    throw error;
  }
  if (named !== name) {
    throw new ServerConfigError('cert', `${material.files.cert} is the certificate of member ${JSON.stringify(named)}, not of ${JSON.stringify(name)} (--name); ` +
      `use certs/members/${name}.crt, or issue one with: coffer ca issue --member ${name} --host HOST`);
  }
}

export async function checkListenable(config: ServerConfig): Promise<void> {
  if (config.listenClient.host === config.listenPeer.host) {
    throw new ServerConfigError('listenPeer', `${config.listenPeer.host} is also the client address (--listen-client); give each its own port`);
  }
  for (const [key, url] of [['listenClient', config.listenClient], ['listenPeer', config.listenPeer]] as const) {
    await new Promise<void>((resolve, reject) => {
      const server = createServer();
      server.once('error', (error: NodeJS.ErrnoException) => {
        const why = error.code === 'EADDRINUSE' ? 'the port is in use by another process' : error.code ?? error.message;
        reject(new ServerConfigError(key, `cannot listen on ${url.host}: ${why}`));
      });
      server.listen(Number(url.port), url.hostname.replace(/^\[(.*)\]$/, '$1'), () => server.close(() => resolve()));
    });
  }
}
