/**
 * KEK held by an external KMS plugin, reached over a Unix socket (protocol: README.md, kms-protocol.ts).
 * The KEK never enters this process: the plugin wraps and unwraps the keyring's keys. The keyring
 * records the key id the plugin returned on the first wrap and asks for that key from then on.
 */
import { type Stats, promises as fs } from 'node:fs';
import net from 'node:net';
import { kmsMessageBytesMax, kmsRequestTimeoutMs } from '../config/index.ts';
import { foreignOwner, othersMayReplace } from '../durable/index.ts';
import { KmsError, sourceMismatch } from './errors.ts';
import type { Kek, KekProvider, KekRecord } from './kek.ts';
import { isRecord, kmsProtocolVersion, type KmsRequest } from './kms-protocol.ts';

export interface KmsOptions {
  socketPath: string;
  timeoutMs?: number;
}

export function kmsKek(options: KmsOptions): KekProvider {
  const { socketPath } = options;
  const timeoutMs = options.timeoutMs ?? kmsRequestTimeoutMs;

  function kekFor(keyId: string | null): Kek {
    // The id is fixed by the first wrap of a newly created KEK; `record` reads it lazily.
    let currentId = keyId;
    return {
      get record(): KekRecord {
        if (currentId === null) throw new KmsError(`KMS plugin at ${socketPath} has not named its key yet`);
        return { source: 'kms', keyId: currentId };
      },
      async wrap(key, aad) {
        const reply = await kmsCall(socketPath, timeoutMs, {
          v: kmsProtocolVersion, op: 'wrap', keyId: currentId, plaintext: b64(key), aad: b64(aad),
        });
        const returnedId = reply.keyId;
        const ciphertext = reply.ciphertext;
        if (typeof returnedId !== 'string' || returnedId.length === 0 || typeof ciphertext !== 'string') {
          throw new KmsError(`KMS plugin at ${socketPath} answered a wrap without keyId and ciphertext`);
        }
        if (currentId !== null && returnedId !== currentId) {
          throw new KmsError(`KMS plugin at ${socketPath} wrapped with key ${JSON.stringify(returnedId)}, asked for ${JSON.stringify(currentId)}`);
        }
        currentId = returnedId;
        return fromB64(ciphertext);
      },
      async unwrap(wrapped, aad) {
        if (currentId === null) throw new KmsError(`KMS plugin at ${socketPath}: unwrap before any wrap named a key`);
        try {
          const reply = await kmsCall(socketPath, timeoutMs, {
            v: kmsProtocolVersion, op: 'unwrap', keyId: currentId, ciphertext: b64(wrapped), aad: b64(aad),
          });
          if (typeof reply.plaintext !== 'string') throw new KmsError(`KMS plugin at ${socketPath} answered an unwrap without plaintext`);
          return fromB64(reply.plaintext);
        } catch (error) {
          if (error instanceof KmsRefusal && (error.kmsCode === 'unauthentic' || error.kmsCode === 'unknown-key')) return undefined;
          throw error;
        }
      },
      wipe() {
        // Nothing held here: the KEK lives in the plugin.
      },
    };
  }

  return {
    source: 'kms',
    description: `KMS plugin at ${socketPath}`,
    create: () => Promise.resolve(kekFor(null)),
    open(record) {
      if (record.source !== 'kms') return Promise.reject(sourceMismatch(record.source, 'kms'));
      return Promise.resolve(kekFor(record.keyId));
    },
  };
}

/** The plugin answered ok:false. */
class KmsRefusal extends KmsError {
  constructor(message: string, readonly kmsCode: string) {
    super(message);
  }
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function fromB64(text: string): Uint8Array {
  const buffer = Buffer.from(text, 'base64');
  const copy = Uint8Array.from(buffer);
  buffer.fill(0);
  return copy;
}

/**
 * Refuses a socket another user could have put at `socketPath`: a wrap sends a key in the clear to
 * whoever listens there. It must be a socket (not a symbolic link to one) of this user or root, and no
 * one else may be able to replace it (othersMayReplace): the connect that follows goes by the name, and
 * only those directories keep the socket checked the one connected to.
 */
async function checkSocket(socketPath: string): Promise<void> {
  let stat: Stats;
  let replaceable: string | undefined;
  try {
    stat = await fs.lstat(socketPath);
    replaceable = await othersMayReplace(socketPath);
  } catch (error) {
    throw new KmsError(`cannot reach KMS plugin at ${socketPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const refuse = (why: string): KmsError => new KmsError(`refusing KMS plugin socket ${socketPath}: ${why}`);
  if (!stat.isSocket()) throw refuse(`it is not a socket but ${kindOf(stat)}`);
  const owner = foreignOwner(stat.uid);
  if (owner !== undefined) throw refuse(`it ${owner}, so that user may be the one listening`);
  if (replaceable !== undefined) throw refuse(`${replaceable}, so another user could put their own socket in its place`);
}

function kindOf(stat: Stats): string {
  if (stat.isSymbolicLink()) return 'a symbolic link';
  if (stat.isFile()) return 'a regular file';
  if (stat.isDirectory()) return 'a directory';
  return 'another kind of file';
}

/** One request, one answer line. Rejects with KmsError on an untrusted socket, connection failure, timeout or refusal. */
async function kmsCall(socketPath: string, timeoutMs: number, request: KmsRequest): Promise<Record<string, unknown>> {
  await checkSocket(socketPath);
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: socketPath });
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (error: Error | undefined, value?: Record<string, unknown>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      for (const chunk of chunks) chunk.fill(0);
      if (error) reject(error);
      else resolve(value ?? {});
    };
    const timer = setTimeout(() => finish(new KmsError(`KMS plugin at ${socketPath} did not answer ${request.op} within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (error: NodeJS.ErrnoException) => finish(new KmsError(`cannot reach KMS plugin at ${socketPath}: ${error.code ?? error.message}`)));
    socket.on('connect', () => socket.end(JSON.stringify(request) + '\n'));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > kmsMessageBytesMax) {
        finish(new KmsError(`KMS plugin at ${socketPath} sent more than ${kmsMessageBytesMax} bytes`));
        return;
      }
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      const newline = all.indexOf(0x0a);
      if (newline < 0) {
        all.fill(0);
        return;
      }
      let reply: unknown;
      try {
        reply = JSON.parse(all.subarray(0, newline).toString('utf8'));
      } catch {
        reply = undefined;
      } finally {
        all.fill(0);
      }
      if (!isRecord(reply)) {
        finish(new KmsError(`KMS plugin at ${socketPath} sent a reply that is not a JSON object`));
      } else if (reply.ok === true) {
        finish(undefined, reply);
      } else {
        const code = typeof reply.code === 'string' ? reply.code : 'internal';
        const why = typeof reply.error === 'string' ? reply.error.slice(0, 200) : 'no reason given';
        finish(new KmsRefusal(`KMS plugin at ${socketPath} refused ${request.op}: ${code}: ${why}`, code));
      }
    });
    socket.on('end', () => finish(new KmsError(`KMS plugin at ${socketPath} closed the connection without an answer`)));
  });
}
