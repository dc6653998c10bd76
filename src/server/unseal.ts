/**
 * Unsealing: the KEK provider a member's configuration names, and opening its keyring with it. A
 * wrong key or passphrase is one SealedError ("cannot unseal: …") and the member does not start.
 */
import { readFile } from 'node:fs/promises';
import type { UnsealSource } from '../config/index.ts';
import { type KekProvider, keyFileKek, kmsKek, type Keyring, openKeyring, passphraseKek } from '../crypto/index.ts';

export async function kekProvider(source: UnsealSource, env: Readonly<Record<string, string | undefined>>): Promise<KekProvider> {
  switch (source.kind) {
    case 'keyFile':
      return keyFileKek(source.path);
    case 'passphraseFile': {
      const bytes = await readFile(source.path);
      // A trailing newline is how editors end a file, not part of the passphrase.
      const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0a ? bytes.length - 1 : bytes.length;
      const passphrase = new Uint8Array(bytes.subarray(0, end));
      bytes.fill(0);
      return passphraseKek(passphrase);
    }
    case 'passphraseEnv':
      return passphraseKek(env.COFFER_UNSEAL_PASSPHRASE ?? '');
    case 'kms':
      return kmsKek({ socketPath: source.socket });
  }
}

export async function unseal(dataDir: string, source: UnsealSource, env: Readonly<Record<string, string | undefined>>): Promise<Keyring> {
  return openKeyring({ dir: dataDir, kek: await kekProvider(source, env) });
}
