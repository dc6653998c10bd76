/**
 * One audited member's client API on the member's own listener over real TLS (the client port's options,
 * identity by certificate), with a CA of its own: what tests of the listener's limits talk to with raw
 * sockets and HTTP/2 sessions, as a client would.
 */
import type { ConnectionOptions } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { buildClientApi, type ClientApiOptions, identifyByCertificate } from '../../../src/api/index.ts';
import { bootstrapCa, issueClient, loadCa, loadTlsMaterial, TlsReloader } from '../../../src/pki/index.ts';
import { type ClientListenerOptions, clientListenerOptions } from '../../../src/server/client-listener.ts';
import { clientFiles, memberFiles, tempDir } from '../pki/tls-harness.ts';
import type { AuditedMember } from './harness.ts';

export interface TlsListener {
  app: FastifyInstance;
  port: number;
  /** TLS options of the admin client (system:masters), its port included. */
  clientTls: ConnectionOptions;
  /** TLS options of each other client asked for, by user name. */
  clientsTls: Map<string, ConnectionOptions>;
  reloader: TlsReloader;
  /** Another app over the same member, audit and certificates (not prepared), listening on a port of its own with the listener's options changed. */
  listenAgain(change: (listener: ClientListenerOptions) => void): Promise<{ app: FastifyInstance; port: number }>;
  close(): Promise<void>;
}

/**
 * `prepare` sees the app before it listens (to add hooks); `api` adds options of the API; `users` are
 * other clients to issue certificates to, each in the groups given.
 */
export async function listenOverTls(member: AuditedMember, options: {
  prepare?: (app: FastifyInstance) => void; api?: Partial<ClientApiOptions>; users?: Record<string, string[]>;
} = {}): Promise<TlsListener> {
  const ca = await tempDir('tls-listener');
  await bootstrapCa({ dir: ca.dir, members: ['m1'], hosts: ['127.0.0.1'], admin: 'admin', p12Password: 'test' });
  const signer = await loadCa(ca.dir);
  for (const [user, groups] of Object.entries(options.users ?? {})) await issueClient(signer, { user, groups, p12Password: 'test' });
  const reloader = await TlsReloader.open(memberFiles(ca.dir, 'm1'));
  const build = async (change: (listener: ClientListenerOptions) => void, prepare?: (app: FastifyInstance) => void) => {
    const listener = clientListenerOptions(reloader.serverOptions());
    change(listener);
    const app = buildClientApi({ backend: member.backend, audit: member.audit, identify: identifyByCertificate(reloader), server: listener, ...options.api });
    prepare?.(app);
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { app, port: (app.server.address() as { port: number }).port };
  };
  const { app, port } = await build(() => undefined, options.prepare);
  const tlsOf = async (user: string): Promise<ConnectionOptions> => {
    const material = await loadTlsMaterial(clientFiles(ca.dir, user));
    return { host: '127.0.0.1', port, ca: material.ca, cert: material.cert, key: material.key };
  };
  const clientsTls = new Map<string, ConnectionOptions>();
  for (const user of Object.keys(options.users ?? {})) clientsTls.set(user, await tlsOf(user));
  return {
    app, port, clientTls: await tlsOf('admin'), clientsTls, reloader,
    listenAgain: async (change) => build(change),
    close: async () => {
      await app.close();
      reloader.close();
      await ca.remove();
    },
  };
}
