/**
 * One audited in-process member (real WAL, store, audit log, default policies: audit-api/harness.ts)
 * served on the member's real client listener (clientListenerOptions: ALPN split, HTTP/2 settings,
 * timeouts) over real TLS with identity by certificate: for what only a real connection shows (HTTP/2
 * flow control, many streams on one connection). Certificates: `admin` (system:masters), `nobody` (a
 * valid client certificate with no binding beyond the defaults every authenticated user has), and one
 * per user of `granted`, each with a ClusterRole of its rules bound to it alone.
 */
import type { FastifyInstance } from 'fastify';
import type { ConnectionOptions } from 'node:tls';
import { buildClientApi, type ClientApiOptions, identifyByCertificate, type KvBackend } from '../../../src/api/index.ts';
import type { Clock } from '../../../src/base/index.ts';
import { bootstrapCa, issueClient, loadCa, loadTlsMaterial, TlsReloader } from '../../../src/pki/index.ts';
import { type ClientListenerOptions, clientListenerOptions } from '../../../src/server/client-listener.ts';
import { clientFiles, memberFiles, tempDir } from '../pki/tls-harness.ts';
import { type AuditedCluster, type AuditedMember, startAudited } from '../audit-api/harness.ts';
import { grant } from '../audit-api/attacker.ts';

/** `backend` with its method `name` replaced by `replace(original)`; every other member as it is (a wrapBackend for a test that watches one call). */
export function replacingMethod<K extends keyof KvBackend>(backend: KvBackend, name: K, replace: (original: KvBackend[K]) => KvBackend[K]): KvBackend {
  return new Proxy(backend, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      const bound = typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      return property === name ? replace(bound as KvBackend[K]) : bound;
    },
  });
}

/** A client's TLS options: its certificate and key, the CA, the member's address. */
export type ClientTls = ConnectionOptions & { host: string; port: number; ca: string; cert: string; key: string };

export interface TlsMember {
  audited: AuditedCluster;
  member: AuditedMember;
  app: FastifyInstance;
  port: number;
  url: string;
  admin: ClientTls;
  nobody: ClientTls;
  /** The TLS options of each user in `granted`. */
  users: Record<string, ClientTls>;
  reloader: TlsReloader;
  /**
   * Another app over the same member, audit and certificates (not prepared), listening on a port of its
   * own with the listener's options changed (a shorter timeout) and `api` over the API's options; the
   * caller closes it.
   */
  listenAgain(change: (listener: ClientListenerOptions) => void, api?: Partial<ClientApiOptions>): Promise<{ app: FastifyInstance; port: number }>;
  close(): Promise<void>;
}

export interface TlsMemberOptions {
  /** More users, each with a ClusterRole of these rules bound to it alone. */
  granted?: Record<string, unknown[]>;
  /** Sees (and may hold) what the API served on the listener asks of the member's replica. */
  wrapBackend?: (backend: KvBackend) => KvBackend;
  /** The clock of the API served on the listener (its timers: watch bookmarks, slow watchers…); the real one by default. */
  clock?: Clock;
  /** More options of the API served on the listener (a shorter answer timeout). */
  api?: Partial<ClientApiOptions>;
  /** Sees the app before it listens (to add hooks). */
  prepare?: (app: FastifyInstance) => void;
}

export async function startTlsMember(options: TlsMemberOptions = {}): Promise<TlsMember> {
  const granted = options.granted ?? {};
  const audited = await startAudited(1);
  const member = audited.members[0]!;
  const ca = await tempDir('tls-member');
  await bootstrapCa({ dir: ca.dir, members: ['m1'], hosts: ['127.0.0.1'], admin: 'admin', p12Password: 'test' });
  const signer = await loadCa(ca.dir);
  await issueClient(signer, { user: 'nobody', p12Password: 'test' });
  for (const [user, rules] of Object.entries(granted)) {
    await issueClient(signer, { user, p12Password: 'test' });
    await grant(member.app, `tls-member-${user}`, rules, user);
  }
  const reloader = await TlsReloader.open(memberFiles(ca.dir, 'm1'));
  const backend = options.wrapBackend?.(member.backend) ?? member.backend;
  const listen = async (change: (listener: ClientListenerOptions) => void, prepare?: (app: FastifyInstance) => void, apiOptions: Partial<ClientApiOptions> = {}) => {
    const listener = clientListenerOptions(reloader.serverOptions());
    change(listener);
    const api = buildClientApi({
      backend, audit: member.audit, identify: identifyByCertificate(reloader), server: listener, ...(options.clock ? { clock: options.clock } : {}), ...options.api, ...apiOptions,
    });
    prepare?.(api);
    await api.listen({ host: '127.0.0.1', port: 0 });
    return { app: api, port: (api.server.address() as { port: number }).port };
  };
  const { app, port } = await listen(() => undefined, options.prepare);
  const tlsOf = async (user: string): Promise<ClientTls> => {
    const m = await loadTlsMaterial(clientFiles(ca.dir, user));
    return { host: '127.0.0.1', port, ca: m.ca, cert: m.cert, key: m.key };
  };
  const users: Record<string, ClientTls> = {};
  for (const user of Object.keys(granted)) users[user] = await tlsOf(user);
  return {
    audited, member, app, port, url: `https://127.0.0.1:${port}`, admin: await tlsOf('admin'), nobody: await tlsOf('nobody'), users, reloader,
    listenAgain: async (change, api) => listen(change, undefined, api),
    close: async () => {
      (app.server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await app.close();
      reloader.close();
      await audited.close();
      await ca.remove();
    },
  };
}
