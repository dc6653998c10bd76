/**
 * Unsealing: the KEK provider a member's configuration names, and opening the member's barrier (its
 * keyring) with it. A wrong key or passphrase is one SealedError ("cannot unseal: …") and the member
 * does not start.
 */
import type { UnsealSource } from '../config/index.ts';
import { type KekProvider, keyFileKek, kmsKek, passphraseKek, readPassphraseFile, wipe } from '../crypto/index.ts';
import { Barrier } from '../storage/barrier/index.ts';

export async function kekProvider(source: UnsealSource, env: Readonly<Record<string, string | undefined>>): Promise<KekProvider> {
  switch (source.kind) {
    case 'keyFile':
      return keyFileKek(source.path);
    case 'passphraseFile': {
      // Refused unless readable by its owner only, as a key file (docs/security.md, "Files on disk").
      const passphrase = await readPassphraseFile(source.path);
      try {
        return passphraseKek(passphrase);
      } finally {
        wipe(passphrase); // passphraseKek keeps its own copy until forget()
      }
    }
    case 'passphraseEnv':
      return passphraseKek(env.COFFER_UNSEAL_PASSPHRASE ?? '');
    case 'kms':
      return kmsKek({ socketPath: source.socket });
  }
}

export async function unseal(dataDir: string, source: UnsealSource, env: Readonly<Record<string, string | undefined>>): Promise<Barrier> {
  return Barrier.unseal(dataDir, await kekProvider(source, env));
}
