/**
 * A member's keyring: its DEKs (numbered, wrapped by the KEK), which one is active, and how many pages
 * each has sealed. The Keyring is also the member's Sealer: every page is sealed with the active DEK
 * and opened with whichever DEK its header names.
 *
 * Invariants:
 * - A DEK seals a page only after the keyring file naming it is durable (rotateDek writes, then switches).
 * - The keyring file on disk always opens with exactly one KEK: the old one until the rename of a KEK
 *   rotation, the new one after (durable write-then-rename: src/durable/replace.ts).
 * - Opening with the wrong KEK writes nothing and fails with one SealedError.
 * - Every wrapping the keyring stores was unwrapped again to the same key first (wrapChecked).
 * - Key material in memory is wiped on close().
 */
import { randomFillSync } from 'node:crypto';
import path from 'node:path';
import { assert, type Clock, realClock } from '../base/index.ts';
import { dekCountMax, keyringFileBytesMax, keyringRetiredDeksKept } from '../config/index.ts';
import { type DurableFs, type DurableWriteStep, mkdirDurably, nodeFs, removeTempsOf, writeFileDurably } from '../durable/index.ts';
import { IntegrityError, KeyringError, SealedError } from './errors.ts';
import type { Argon2Params, Kek, KekProvider, KekSource } from './kek.ts';
import {
  decodeKeyringFile, type DekRecord, encodeKeyringFile, type KeyringBody, keyringFileName, parseKeyringBody, type RetiredDekRecord,
} from './keyring-format.ts';
import { NoncePool } from './nonces.ts';
import { dekIdOfPage, openPage, type Sealer, sealPage } from './page.ts';
import type { PagePosition } from './position.ts';
import { equalConstantTime, sodium, sodiumReady, wipe } from './sodium.ts';

const dekBytes = 32;
const keyringIdBytes = 16;

/** Named moments of a keyring write, for crash tests: 'rewrapped' (KEK rotation only), then the durable write's steps. */
export type KeyringStep = 'rewrapped' | DurableWriteStep;

export interface OpenKeyringOptions {
  /** The member's data dir; the keyring is `<dir>/keyring.json`. */
  dir: string;
  kek: KekProvider;
  /** Create a keyring if none exists (default true). With false, a missing keyring is a SealedError. */
  createIfMissing?: boolean;
  clock?: Clock;
  /** The file system (default: the real one; the simulator passes its own). */
  fs?: DurableFs;
  /** Deliberate seam for crash tests: called after each named step of a keyring write. */
  onStep?: (step: KeyringStep) => void;
}

export interface DekStatus {
  id: number;
  createdAtMs: number;
  pagesSealed: number;
  active: boolean;
}

export interface KeyringStatus {
  kekSource: KekSource;
  kekDescription: string;
  /** The recorded argon2id parameters when the KEK is a passphrase. */
  argon2?: Argon2Params;
  /** The plugin's key id when the KEK is held by a KMS. */
  kmsKeyId?: string;
  activeDekId: number;
  deks: DekStatus[];
  /** DEKs retired (keys gone), oldest first: the latest keyringRetiredDeksKept, across restarts. */
  retired: RetiredDekRecord[];
}

interface LiveDek {
  record: DekRecord;
  key: Uint8Array;
}

export async function openKeyring(options: OpenKeyringOptions): Promise<Keyring> {
  await sodiumReady();
  const fs = options.fs ?? nodeFs;
  const file = path.join(options.dir, keyringFileName);
  let bytes: Buffer | undefined;
  try {
    const stat = await fs.stat(file);
    if (stat.size > keyringFileBytesMax) throw new KeyringError(`keyring file ${file} is ${stat.size} bytes, above ${keyringFileBytesMax}`);
    bytes = await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (bytes === undefined) {
    if (options.createIfMissing === false) throw new SealedError(`no keyring at ${file}`);
    return Keyring.create(file, options);
  }
  return Keyring.load(file, bytes, options);
}

export class Keyring implements Sealer {
  private readonly nonces = new NoncePool();
  private readonly deks = new Map<number, LiveDek>();
  // Invariant: `active` is the entry of `deks` with id === activeId.
  private active: LiveDek;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private providerDescription: string,
    private kek: Kek,
    private authKey: Uint8Array,
    private readonly keyringId: Uint8Array,
    private readonly createdAtMs: number,
    deks: LiveDek[],
    activeId: number,
    private retired: RetiredDekRecord[],
    private readonly clock: Clock,
    private readonly fs: DurableFs,
    private readonly onStep: (step: KeyringStep) => void,
  ) {
    for (const dek of deks) this.deks.set(dek.record.id, dek);
    const active = this.deks.get(activeId);
    assert(active !== undefined, `active DEK ${activeId} is loaded`);
    this.active = active;
  }

  static async create(file: string, options: OpenKeyringOptions): Promise<Keyring> {
    const clock = options.clock ?? realClock;
    const kek = await options.kek.create();
    const keyringId = randomFillSync(new Uint8Array(keyringIdBytes));
    const authKey = randomFillSync(new Uint8Array(sodium.crypto_auth_KEYBYTES));
    const key = randomFillSync(new Uint8Array(dekBytes));
    try {
      const nowMs = clock.nowMs();
      const wrapped = await wrapChecked(kek, options.kek.description, key, wrapAd(keyringId, 'dek', 1), 'DEK 1');
      const dek: LiveDek = { key, record: { id: 1, createdAtMs: nowMs, wrapped: b64(wrapped), pagesSealed: 0 } };
      const fs = options.fs ?? nodeFs;
      const keyring = new Keyring(file, options.kek.description, kek, authKey, keyringId, nowMs, [dek], 1, [], clock, fs, options.onStep ?? (() => {}));
      await mkdirDurably(path.dirname(file), { mode: 0o700, fs });
      await keyring.write(kek, options.kek.description, authKey);
      return keyring;
    } catch (error) {
      kek.wipe();
      wipe(authKey);
      wipe(key);
      throw error;
    }
  }

  static async load(file: string, bytes: Uint8Array, options: OpenKeyringOptions): Promise<Keyring> {
    const outer = decodeKeyringFile(bytes, file);
    const body = parseKeyringBody(outer.body, file);
    const kek = await options.kek.open(body.kek);
    const keyringId = Buffer.from(body.keyringId, 'base64');
    const loaded: LiveDek[] = [];
    let authKey: Uint8Array | undefined;
    try {
      authKey = await kek.unwrap(Buffer.from(body.authKey, 'base64'), wrapAd(keyringId, 'auth', 0));
      if (authKey === undefined) {
        throw new SealedError(`${options.kek.description} does not open the keyring at ${file} (wrong passphrase or key, or an altered KEK record)`);
      }
      if (!sodium.crypto_auth_verify(outer.mac, Buffer.from(outer.body, 'utf8'), authKey)) {
        throw new IntegrityError(`keyring file ${file} failed authentication: it was altered`);
      }
      for (const record of body.deks) {
        const key = await kek.unwrap(Buffer.from(record.wrapped, 'base64'), wrapAd(keyringId, 'dek', record.id));
        // The MAC covered this wrapping, so only a broken KEK provider can fail here.
        if (key === undefined) throw new IntegrityError(`keyring file ${file}: DEK ${record.id} does not unwrap`);
        loaded.push({ record: { ...record }, key });
      }
    } catch (error) {
      kek.wipe();
      wipe(authKey);
      for (const dek of loaded) wipe(dek.key);
      throw error;
    }
    // Only now, unsealed, may anything be written: remove the temporaries a crash mid-write left.
    const fs = options.fs ?? nodeFs;
    await removeTempsOf(file, fs);
    return new Keyring(file, options.kek.description, kek, authKey, keyringId, body.createdAtMs, loaded,
      body.activeDekId, body.retired ?? [], options.clock ?? realClock, fs, options.onStep ?? (() => {}));
  }

  // ── Sealer ──────────────────────────────────────────────────────────────────────────────────────

  seal(plaintext: Uint8Array, position: PagePosition): Uint8Array {
    this.assertOpen();
    const sealed = sealPage(plaintext, position, this.active.record.id, this.active.key, this.nonces);
    this.active.record.pagesSealed += 1;
    return sealed;
  }

  open(sealed: Uint8Array, position: PagePosition): Uint8Array {
    this.assertOpen();
    return openPage(sealed, position, (id) => this.deks.get(id)?.key);
  }

  activeDekId(): number {
    return this.active.record.id;
  }

  dekIdOf(sealed: Uint8Array): number {
    return dekIdOfPage(sealed);
  }

  // ── Key management ──────────────────────────────────────────────────────────────────────────────

  /** Adds a new DEK and makes it active once the keyring naming it is durable; returns its id. */
  rotateDek(): Promise<number> {
    return this.exclusive(async () => {
      this.assertOpen();
      const id = Math.max(...this.deks.keys()) + 1;
      if (this.deks.size >= dekCountMax) throw new KeyringError(`the keyring holds ${this.deks.size} DEKs, the most allowed (${dekCountMax})`);
      const key = randomFillSync(new Uint8Array(dekBytes));
      let wrapped: Uint8Array;
      try {
        wrapped = await wrapChecked(this.kek, this.providerDescription, key, wrapAd(this.keyringId, 'dek', id), `DEK ${id}`);
      } catch (error) {
        wipe(key);
        throw error;
      }
      const dek: LiveDek = { key, record: { id, createdAtMs: this.clock.nowMs(), wrapped: b64(wrapped), pagesSealed: 0 } };
      this.deks.set(id, dek);
      try {
        await this.write(this.kek, this.providerDescription, this.authKey, id);
      } catch (error) {
        this.deks.delete(id);
        wipe(key);
        throw error;
      }
      this.active = dek;
      return id;
    });
  }

  /**
   * Rewraps every DEK (and a fresh authentication key) under a new KEK and replaces the keyring file
   * atomically. Until the rename the old KEK opens it; from the rename on, the new one.
   */
  rotateKek(provider: KekProvider): Promise<void> {
    return this.exclusive(async () => {
      this.assertOpen();
      const next = await provider.create();
      const authKey = randomFillSync(new Uint8Array(sodium.crypto_auth_KEYBYTES));
      const rewrapped = new Map<number, string>();
      try {
        for (const [id, dek] of this.deks) {
          rewrapped.set(id, b64(await wrapChecked(next, provider.description, dek.key, wrapAd(this.keyringId, 'dek', id), `DEK ${id}`)));
        }
        this.onStep('rewrapped');
        const previous = new Map([...this.deks].map(([id, dek]) => [id, dek.record.wrapped]));
        for (const [id, wrapped] of rewrapped) this.deks.get(id)!.record.wrapped = wrapped;
        try {
          await this.write(next, provider.description, authKey);
        } catch (error) {
          for (const [id, wrapped] of previous) this.deks.get(id)!.record.wrapped = wrapped;
          throw error;
        }
      } catch (error) {
        next.wipe();
        wipe(authKey);
        throw error;
      }
      this.kek.wipe();
      wipe(this.authKey);
      this.kek = next;
      this.authKey = authKey;
      this.providerDescription = provider.description;
    });
  }

  /**
   * Removes a DEK that nothing sealed with it any longer needs: its key is wiped and the keyring file
   * is rewritten atomically without it. The caller proves it unused (no page, record or file of the
   * member names it); the active DEK is never retired. Unknown ids are a KeyringError.
   */
  retireDek(id: number): Promise<void> {
    return this.exclusive(async () => {
      this.assertOpen();
      const dek = this.deks.get(id);
      if (dek === undefined) throw new KeyringError(`DEK ${id} is not in the keyring`);
      if (dek === this.active) throw new KeyringError(`DEK ${id} is the active DEK and cannot be retired`);
      const retiredBefore = this.retired;
      this.deks.delete(id);
      this.retired = [...this.retired, { id, retiredAtMs: this.clock.nowMs() }].slice(-keyringRetiredDeksKept);
      try {
        await this.write(this.kek, this.providerDescription, this.authKey);
      } catch (error) {
        this.deks.set(id, dek);
        this.retired = retiredBefore;
        throw error;
      }
      wipe(dek.key);
    });
  }

  /** Writes the current counters to the keyring file. */
  persist(): Promise<void> {
    return this.exclusive(async () => {
      this.assertOpen();
      await this.write(this.kek, this.providerDescription, this.authKey);
    });
  }

  status(): KeyringStatus {
    const record = this.kek.record;
    const status: KeyringStatus = {
      kekSource: record.source,
      kekDescription: this.providerDescription,
      activeDekId: this.active.record.id,
      deks: [...this.deks.values()].map((d) => ({
        id: d.record.id, createdAtMs: d.record.createdAtMs, pagesSealed: d.record.pagesSealed, active: d === this.active,
      })),
      retired: this.retired.map((r) => ({ ...r })),
    };
    if (record.source === 'passphrase') status.argon2 = { memoryKiB: record.memoryKiB, timeCost: record.timeCost, parallelism: record.parallelism };
    if (record.source === 'kms') status.kmsKeyId = record.keyId;
    return status;
  }

  /** Persists the counters and wipes every key held in memory; the keyring is sealed afterwards. */
  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.closed) return;
      try {
        await this.write(this.kek, this.providerDescription, this.authKey);
      } finally {
        this.closed = true;
        for (const dek of this.deks.values()) wipe(dek.key);
        this.deks.clear();
        wipe(this.authKey);
        this.kek.wipe();
      }
    });
  }

  // ── Internals ───────────────────────────────────────────────────────────────────────────────────

  private assertOpen(): void {
    if (this.closed) throw new SealedError(`the keyring at ${this.file} is closed`);
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => {});
    return result;
  }

  /**
   * Writes the keyring as it would be with `activeId` active, wrapped under `kek` (named by
   * `kekDescription` in errors), authenticated by `authKey`.
   */
  private async write(kek: Kek, kekDescription: string, authKey: Uint8Array, activeId = this.active.record.id): Promise<void> {
    const wrappedAuthKey = await wrapChecked(kek, kekDescription, authKey, wrapAd(this.keyringId, 'auth', 0), 'the authentication key');
    const body: KeyringBody = {
      keyringId: b64(this.keyringId),
      createdAtMs: this.createdAtMs,
      kek: kek.record,
      authKey: b64(wrappedAuthKey),
      activeDekId: activeId,
      deks: [...this.deks.values()].map((d) => ({ ...d.record })).sort((a, b) => a.id - b.id),
      retired: this.retired,
    };
    const text = JSON.stringify(body);
    const mac = sodium.crypto_auth(Buffer.from(text, 'utf8'), authKey);
    await writeFileDurably(this.file, encodeKeyringFile(text, mac), { fs: this.fs, onStep: this.onStep });
  }
}

/**
 * `key` wrapped by `kek`, once the wrapping has been unwrapped again to the same bytes. A wrapping that
 * does not open (a KMS plugin that answers a wrap wrongly, or a KEK bug) would otherwise be stored and
 * found only at the member's next start, which could then not unseal; refused here, nothing is kept.
 * `kekDescription` and `what` ("DEK 2") name the failure; the key itself never appears in it.
 */
async function wrapChecked(kek: Kek, kekDescription: string, key: Uint8Array, additional: Uint8Array, what: string): Promise<Uint8Array> {
  const wrapped = await kek.wrap(key, additional);
  const check = await kek.unwrap(wrapped, additional);
  try {
    if (check === undefined || !equalConstantTime(check, key)) {
      throw new KeyringError(`${kekDescription} did not round-trip ${what}: what it wrapped does not unwrap to the same key, so it is not stored`);
    }
  } finally {
    wipe(check);
  }
  return wrapped;
}

const adTag = Buffer.from('coffer/keyring/v1\u0000', 'utf8');

/** Additional data of a wrapping: which keyring, which purpose, which DEK. */
function wrapAd(keyringId: Uint8Array, purpose: 'auth' | 'dek', id: number): Uint8Array {
  const out = new Uint8Array(adTag.length + keyringId.length + 1 + 4);
  out.set(adTag, 0);
  out.set(keyringId, adTag.length);
  const view = new DataView(out.buffer);
  view.setUint8(adTag.length + keyringId.length, purpose === 'auth' ? 0 : 1);
  view.setUint32(adTag.length + keyringId.length + 1, id);
  return out;
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
