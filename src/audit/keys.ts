/**
 * The member's Ed25519 audit signing key. The caller owns the key pair; this file generates one and
 * keeps it at rest in a small JSON file whose private key is a sealed page (the keyring's Sealer,
 * kind RecordKind.audit), so the key never touches the disk in the clear:
 *
 *   {"format":"coffer-audit-key","version":1,"publicKey":"<b64>","sealedPrivateKey":"<b64>"}
 *
 * The public key is stored in the clear for convenience only; opening checks it against the one embedded
 * in the sealed private key, so a swapped public key fails. Verifiers should trust the public key the
 * cluster recorded for the member, or the one returned by openAuditKeyFile (authenticated by the seal).
 */
import path from 'node:path';
import { type Sealer, type SealedFile, RecordKind, sodiumReady, wipe, equalConstantTime } from '../crypto/index.ts';
import { AuditKeyError } from './errors.ts';
import { type DurableFs, nodeFs, readFileIfPresent, writeFileDurably } from '../durable/index.ts';

export interface AuditKeyPair {
  publicKey: Uint8Array;
  /** libsodium's 64-byte Ed25519 secret key (seed + public key). Wipe with wipeAuditKeyPair when done. */
  privateKey: Uint8Array;
}

export const auditKeyFileName = 'audit-signing.key';

/** The storeId the member's audit key file is sealed under (binds the file to the member). */
export const auditKeyStoreId = (member: string): string => `${member}/audit`;
const format = 'coffer-audit-key';
const version = 1;
const keyFileBytesMax = 4096;

export async function generateAuditKeyPair(): Promise<AuditKeyPair> {
  const sodium = await sodiumReady();
  const { publicKey, privateKey } = sodium.crypto_sign_keypair();
  return { publicKey, privateKey };
}

export function wipeAuditKeyPair(keyPair: AuditKeyPair): void {
  wipe(keyPair.privateKey);
}

function positionFor(storeId: string) {
  return { storeId, kind: RecordKind.audit, index: 0, sub: 0 };
}

/** The key file's bytes: the private key sealed for (storeId, audit, 0, 0). */
export function sealAuditKeyPair(keyPair: AuditKeyPair, sealer: Sealer, storeId: string): Uint8Array {
  const sealed = sealer.seal(keyPair.privateKey, positionFor(storeId));
  const doc = {
    format, version,
    publicKey: Buffer.from(keyPair.publicKey).toString('base64'),
    sealedPrivateKey: Buffer.from(sealed).toString('base64'),
  };
  return new TextEncoder().encode(JSON.stringify(doc) + '\n');
}

/** The parts of key file bytes, still sealed; throws AuditKeyError if they are not such a file. */
export function parseAuditKeyFile(bytes: Uint8Array, source = 'audit key'): { publicKey: Uint8Array; sealedPrivateKey: Uint8Array } {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch {
    throw new AuditKeyError(`${source} is not JSON`);
  }
  if (doc.format !== format || doc.version !== version || typeof doc.publicKey !== 'string' || typeof doc.sealedPrivateKey !== 'string') {
    throw new AuditKeyError(`${source} is not a ${format} version ${version} file`);
  }
  return {
    publicKey: new Uint8Array(Buffer.from(doc.publicKey, 'base64')),
    sealedPrivateKey: new Uint8Array(Buffer.from(doc.sealedPrivateKey, 'base64')),
  };
}

/** Opens key file bytes; throws AuditKeyError (or the Sealer's IntegrityError) if they do not open or disagree. */
export async function openAuditKeyPair(bytes: Uint8Array, sealer: Sealer, storeId: string, source = 'audit key'): Promise<AuditKeyPair> {
  const sodium = await sodiumReady();
  const { publicKey, sealedPrivateKey } = parseAuditKeyFile(bytes, source);
  const privateKey = sealer.open(sealedPrivateKey, positionFor(storeId));
  const embedded = privateKey.subarray(sodium.crypto_sign_SEEDBYTES);
  if (privateKey.length !== sodium.crypto_sign_SECRETKEYBYTES || !equalConstantTime(embedded, publicKey)) {
    wipe(privateKey);
    throw new AuditKeyError(`${source}: the public key does not belong to the sealed private key`);
  }
  return { publicKey, privateKey };
}

export interface AuditKeyFileOptions {
  /** The file system the key file lives on (default: the real one; the simulator passes its power-loss disk). */
  fs?: DurableFs;
  /** Makes the key pair of a new file (default: generateAuditKeyPair; the simulator derives it from its seed). */
  generate?: () => Promise<AuditKeyPair>;
}

/** Reads `<dir>/audit-signing.key`, or creates it with a fresh key pair (atomically) if absent. */
export async function loadOrCreateAuditKeyFile(dir: string, sealer: Sealer, storeId: string, options: AuditKeyFileOptions = {}): Promise<AuditKeyPair> {
  const fs = options.fs ?? nodeFs;
  const file = path.join(dir, auditKeyFileName);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new AuditKeyError(`cannot read ${file}: ${(error as Error).message}`);
    const keyPair = await (options.generate ?? generateAuditKeyPair)();
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeFileDurably(file, sealAuditKeyPair(keyPair, sealer, storeId), { fs });
    return keyPair;
  }
  if (bytes.length > keyFileBytesMax) throw new AuditKeyError(`${file} is ${bytes.length} bytes, more than ${keyFileBytesMax}`);
  return openAuditKeyPair(bytes, sealer, storeId, file);
}

/**
 * The member's audit key file as DEK rotation sees it (storage/barrier): the sealed private key, whose
 * header names its DEK, and a rewrite of the file sealed with the active DEK.
 */
export function auditKeySealedFile(dir: string, sealer: Sealer, member: string, fs: DurableFs = nodeFs): SealedFile {
  const file = path.join(dir, auditKeyFileName);
  const storeId = auditKeyStoreId(member);
  return {
    async sealed() {
      const bytes = await readFileIfPresent(fs, file);
      return bytes === undefined ? undefined : parseAuditKeyFile(bytes, file).sealedPrivateKey;
    },
    async reseal() {
      const bytes = await readFileIfPresent(fs, file);
      if (bytes === undefined) return;
      const keyPair = await openAuditKeyPair(bytes, sealer, storeId, file);
      try {
        await writeFileDurably(file, sealAuditKeyPair(keyPair, sealer, storeId), { mode: 0o600, fs });
      } finally {
        wipeAuditKeyPair(keyPair);
      }
    },
  };
}
