/**
 * Reference KMS plugin for Coffer (protocol: src/crypto/README.md). Holds one 32-byte master key read
 * from a 0600 key file and wraps/unwraps with XChaCha20-Poly1305-IETF, binding the request's aad and
 * its key id. Used by the tests; a real deployment puts a cloud KMS or an HSM behind the same socket.
 *
 *   node --import tsx scripts/kms-plugin.ts --socket /run/coffer-kms.sock --key-file kms.key [--key-id ID]
 */
import { randomFillSync } from 'node:crypto';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import sodium from 'libsodium-wrappers';

const { values } = parseArgs({
  options: { socket: { type: 'string' }, 'key-file': { type: 'string' }, 'key-id': { type: 'string' } },
});
const socketPath = values.socket;
const keyFile = values['key-file'];
if (socketPath === undefined || keyFile === undefined) {
  process.stderr.write('usage: kms-plugin --socket PATH --key-file FILE [--key-id ID]\n');
  process.exit(2);
}
const keyId = values['key-id'] ?? 'default';

await sodium.ready;
const stat = await fs.stat(keyFile);
if ((stat.mode & 0o077) !== 0) {
  process.stderr.write(`kms-plugin: key file ${keyFile} has mode 0${(stat.mode & 0o777).toString(8)}; it must be 0600\n`);
  process.exit(2);
}
const masterKey = new Uint8Array(await fs.readFile(keyFile));
if (masterKey.length !== 32) {
  process.stderr.write(`kms-plugin: key file ${keyFile} is ${masterKey.length} bytes, expected 32\n`);
  process.exit(2);
}

const nonceBytes = 24;
const idBytes = Buffer.from(keyId, 'utf8');

function bindAad(aad: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from([idBytes.length]), idBytes, aad]);
}

type Reply = Record<string, unknown>;

function handle(request: Record<string, unknown>): Reply {
  if (request.v !== 1) return { ok: false, code: 'bad-request', error: `protocol version ${String(request.v)} is not 1` };
  if (typeof request.aad !== 'string') return { ok: false, code: 'bad-request', error: 'aad missing' };
  const aad = bindAad(Buffer.from(request.aad, 'base64'));
  if (request.keyId !== null && request.keyId !== keyId) return { ok: false, code: 'unknown-key', error: `no key ${JSON.stringify(request.keyId)}` };
  if (request.op === 'wrap' && typeof request.plaintext === 'string') {
    const plaintext = Buffer.from(request.plaintext, 'base64');
    const nonce = randomFillSync(new Uint8Array(nonceBytes));
    const sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, null, nonce, masterKey);
    plaintext.fill(0);
    return { ok: true, keyId, ciphertext: Buffer.concat([nonce, sealed]).toString('base64') };
  }
  if (request.op === 'unwrap' && typeof request.ciphertext === 'string') {
    const wrapped = Buffer.from(request.ciphertext, 'base64');
    if (wrapped.length < nonceBytes + 16) return { ok: false, code: 'unauthentic', error: 'ciphertext too short' };
    try {
      const plain = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, wrapped.subarray(nonceBytes), aad, wrapped.subarray(0, nonceBytes), masterKey);
      const reply = { ok: true, plaintext: Buffer.from(plain).toString('base64') };
      sodium.memzero(plain);
      return reply;
    } catch {
      return { ok: false, code: 'unauthentic', error: 'ciphertext does not open under this key' };
    }
  }
  return { ok: false, code: 'bad-request', error: `unknown op ${JSON.stringify(request.op)}` };
}

await fs.rm(socketPath, { force: true });
const server = net.createServer((socket) => {
  let buffered = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    if (buffered.length > 64 * 1024) {
      socket.end(JSON.stringify({ ok: false, code: 'bad-request', error: 'request too long' }) + '\n');
      return;
    }
    const newline = buffered.indexOf(0x0a);
    if (newline < 0) return;
    let reply: Reply;
    try {
      const request: unknown = JSON.parse(buffered.subarray(0, newline).toString('utf8'));
      reply = typeof request === 'object' && request !== null ? handle(request as Record<string, unknown>) : { ok: false, code: 'bad-request', error: 'not an object' };
    } catch {
      reply = { ok: false, code: 'bad-request', error: 'not JSON' };
    }
    buffered.fill(0);
    socket.end(JSON.stringify(reply) + '\n');
  });
});
server.listen(socketPath, () => {
  process.stdout.write(`kms-plugin listening on ${socketPath}\n`);
});
const stop = (): void => {
  server.close();
  sodium.memzero(masterKey);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
