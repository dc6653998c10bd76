// Test support: throwaway CA directories, and TLS servers on 127.0.0.1:0 built from src/pki that
// greet each accepted connection with the identity they derived, then echo. "Refused" means the
// client saw an error or a close before the greeting (with TLS 1.3 the server checks the client
// certificate after the client's handshake has finished, so a refusal arrives as an alert or close).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectionOptions, connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { acceptPeer, bootstrapCa, caLayout, type CaSigner, clientIdentity, isPkiError, issueClient, loadCa, onHandshakeRefused, type TlsReloader } from '../../../src/pki/index.ts';

export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `coffer-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A temporary CA directory (bootstrapCa: member m1 on 127.0.0.1, client admin) with a client certificate for each of `users`. */
export async function caWithClients(prefix: string, users: readonly string[]): Promise<{ dir: string; remove: () => Promise<void>; signer: CaSigner }> {
  const { dir, remove } = await tempDir(prefix);
  await bootstrapCa({ dir, members: ['m1'], hosts: ['127.0.0.1'], admin: 'admin', p12Password: 'test' });
  const signer = await loadCa(dir);
  for (const user of users) await issueClient(signer, { user, p12Password: 'test' });
  return { dir, remove, signer };
}

export interface TestServer {
  server: Server;
  port: number;
  /**
   * Resolves with the reason the server gives for the next connection it refuses: node's
   * authorizationError (CERT_HAS_EXPIRED, CERT_REVOKED…) for a failed verification — node closes
   * such connections without a TLS alert, so the client only sees a close — or the PkiError code of
   * an identity check.
   */
  nextRefusal(): Promise<string>;
  close(): Promise<void>;
}

/**
 * role 'client': greets with {identity} from clientIdentity. role 'peer': waits for "claim <name>\n",
 * then greets with {member} from acceptPeer, or destroys the connection if the check fails.
 */
export async function startServer(reloader: TlsReloader, role: 'client' | 'peer'): Promise<TestServer> {
  const server = createServer(reloader.serverOptions());
  reloader.attach(server);
  const sockets = new Set<TLSSocket>();
  let waiters: ((reason: string) => void)[] = [];
  const refuse = (reason: string) => {
    const current = waiters;
    waiters = [];
    for (const waiter of current) waiter(reason);
  };
  onHandshakeRefused(server, (reason) => refuse(reason));
  server.on('secureConnection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (role === 'client') {
      try {
        socket.write(JSON.stringify({ identity: clientIdentity(socket.getPeerCertificate()) }) + '\n');
      } catch (error) {
        refuse(isPkiError(error) ? error.code : String(error));
        socket.destroy();
        return;
      }
      socket.on('data', (data: Buffer) => socket.write(data));
      socket.resume();
      return;
    }
    readLine(socket).then((line) => {
      const claim = /^claim (\S+)$/.exec(line)?.[1];
      try {
        socket.write(JSON.stringify({ member: acceptPeer(socket, claim) }) + '\n');
      } catch (error) {
        refuse(isPkiError(error) ? error.code : String(error));
        socket.destroy();
        return;
      }
      socket.on('data', (data: Buffer) => socket.write(data));
      socket.resume(); // readLine paused the socket after the claim line
    }, () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  return {
    server,
    port: address.port,
    nextRefusal: () => new Promise((resolve) => { waiters.push(resolve); }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type Attempt =
  | { accepted: true; greeting: Record<string, unknown>; serverSerial: string; socket: TLSSocket }
  | { accepted: false; error: string };

/** Connects; with `claim`, sends "claim <name>" first (the peer listener's hello). */
export function attempt(port: number, options: ConnectionOptions, claim?: string): Promise<Attempt> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: Attempt) => {
      if (settled) return;
      settled = true;
      if (!result.accepted) socket.destroy();
      resolve(result);
    };
    const socket = connect({ host: '127.0.0.1', port, ...options });
    socket.on('secureConnect', () => {
      if (claim !== undefined) socket.write(`claim ${claim}\n`);
    });
    readLine(socket).then(
      (line) => settle({
        accepted: true,
        greeting: JSON.parse(line) as Record<string, unknown>,
        serverSerial: socket.getPeerCertificate().serialNumber.toLowerCase(),
        socket,
      }),
      (error: unknown) => settle({ accepted: false, error: describe(error) }),
    );
  });
}

/** Writes `text` and resolves when the server has echoed it back. */
export function echo(socket: TLSSocket, text: string): Promise<string> {
  socket.write(`${text}\n`);
  return readLine(socket);
}

/** The next newline-terminated line; rejects on error or close before it. */
function readLine(socket: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (data: Buffer) => {
      buffered += data.toString('utf8');
      const end = buffered.indexOf('\n');
      if (end < 0) return;
      cleanup();
      socket.pause();
      const rest = buffered.slice(end + 1);
      if (rest !== '') socket.unshift(Buffer.from(rest));
      resolve(buffered.slice(0, end));
    };
    const onError = (error: Error) => { cleanup(); reject(error); };
    const onClose = () => { cleanup(); reject(new Error('closed before a greeting')); };
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.resume();
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) return 'code' in error && typeof error.code === 'string' ? `${error.code}: ${error.message}` : error.message;
  return String(error);
}

/** Raw options from files, bypassing loadTlsMaterial's checks (to present expired or foreign certificates). */
export async function rawClientOptions(caFile: string, cert?: { cert: string; key: string }): Promise<ConnectionOptions> {
  return {
    minVersion: 'TLSv1.3',
    ca: await readFile(caFile, 'utf8'),
    ...(cert === undefined ? {} : { cert: await readFile(cert.cert, 'utf8'), key: await readFile(cert.key, 'utf8') }),
  };
}

export const memberFiles = (dir: string, name: string) => {
  const l = caLayout(dir);
  return { cert: l.memberCert(name), key: l.memberKey(name), ca: l.caCert, crl: l.crl };
};

export const clientFiles = (dir: string, user: string) => {
  const l = caLayout(dir);
  return { cert: l.clientCert(user), key: l.clientKey(user), ca: l.caCert, crl: l.crl };
};
