/**
 * KEK from a passphrase: argon2id (raw 32-byte output) over the passphrase with a random per-member
 * salt. The salt and the parameters are recorded in the keyring; opening always uses the recorded
 * ones, so defaults can be raised later (by a KEK rotation) without locking anyone out.
 */
import { randomFillSync } from 'node:crypto';
import argon2 from 'argon2';
import {
  argon2MemoryKiBDefault, argon2MemoryKiBMax, argon2MemoryKiBMin, argon2ParallelismDefault, argon2ParallelismMax,
  argon2TimeCostDefault, argon2TimeCostMax, shortNewPassphrase,
} from '../config/index.ts';
import { KeyringError, sourceMismatch } from './errors.ts';
import type { Argon2Params, Kek, KekProvider, KekRecord } from './kek.ts';
import { kekBytes, localKek } from './kek-local.ts';
import { wipe } from './sodium.ts';

const saltBytes = 16;

export const argon2ParamsDefault: Readonly<Argon2Params> = Object.freeze({
  memoryKiB: argon2MemoryKiBDefault,
  timeCost: argon2TimeCostDefault,
  parallelism: argon2ParallelismDefault,
});

/** Throws KeyringError naming the bad parameter if it is outside the accepted bounds. */
export function checkArgon2Params(params: Argon2Params): void {
  const bounds: [keyof Argon2Params, number, number][] = [
    ['memoryKiB', argon2MemoryKiBMin, argon2MemoryKiBMax],
    ['timeCost', 1, argon2TimeCostMax],
    ['parallelism', 1, argon2ParallelismMax],
  ];
  for (const [name, min, max] of bounds) {
    const value = params[name];
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new KeyringError(`argon2id ${name} ${String(value)} is outside [${min}, ${max}]`);
    }
  }
  if (params.memoryKiB < 8 * params.parallelism) {
    throw new KeyringError(`argon2id memoryKiB ${params.memoryKiB} is below 8 x parallelism ${params.parallelism}`);
  }
}

/**
 * A passphrase KEK provider. `params` apply only when creating (a new keyring or a KEK rotation);
 * opening uses the parameters the keyring recorded. Creating needs a passphrase of at least
 * newPassphraseCharsMin characters (the keyring file can be taken and guessed at offline); opening
 * takes any, so a keyring made before the rule still opens. The provider keeps a copy of the
 * passphrase until `forget()`.
 */
export function passphraseKek(passphrase: string | Uint8Array, params: Partial<Argon2Params> = {}): KekProvider & { forget(): void } {
  const secret = typeof passphrase === 'string' ? Buffer.from(passphrase, 'utf8') : Buffer.from(passphrase);
  if (secret.length === 0) throw new KeyringError('the passphrase is empty');
  const createParams: Argon2Params = { ...argon2ParamsDefault, ...params };
  checkArgon2Params(createParams);

  async function derive(record: Extract<KekRecord, { source: 'passphrase' }>): Promise<Kek> {
    const salt = Buffer.from(record.salt, 'base64');
    if (salt.length !== saltBytes) throw new KeyringError(`argon2id salt of ${salt.length} bytes, expected ${saltBytes}`);
    checkArgon2Params(record);
    const key = await argon2.hash(secret, {
      type: argon2.argon2id,
      raw: true,
      salt,
      hashLength: kekBytes,
      memoryCost: record.memoryKiB,
      timeCost: record.timeCost,
      parallelism: record.parallelism,
    });
    try {
      return localKek(key, record);
    } finally {
      wipe(key);
    }
  }

  return {
    source: 'passphrase',
    description: 'passphrase (argon2id)',
    create() {
      const short = shortNewPassphrase(secret, 'the passphrase', 'a new keyring', 'its file');
      if (short !== undefined) return Promise.reject(new KeyringError(short));
      const salt = randomFillSync(Buffer.alloc(saltBytes)).toString('base64');
      return derive({ source: 'passphrase', salt, ...createParams });
    },
    open(record) {
      if (record.source !== 'passphrase') return Promise.reject(sourceMismatch(record.source, 'passphrase'));
      return derive(record);
    },
    forget() {
      wipe(secret);
    },
  };
}
