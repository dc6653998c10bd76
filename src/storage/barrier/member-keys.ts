/**
 * The barrier's key rotation on one member (made by Barrier.rotation, barrier.ts): status, DEK
 * rotation with background re-encryption and retirement of old DEKs, KEK rotation. The keys admin
 * routes (api/admin/keys.ts) serve it.
 *
 * What the barrier's areas seal (areas.ts), and how each leaves an old DEK behind:
 * - MVCC revision pages, lease records and the meta record: the Reencrypter re-seals them
 *   (reencrypt.ts, over the store's reencryptStep);
 * - the small sealed files their owners hand in (options.sealedFiles: the member identity
 *   `member.sealed`, the audit signing key `audit-signing.key`): re-sealed right after the rotation
 *   (each one atomic file write);
 * - WAL records and WAL snapshot files: once a re-encryption pass has ended, the member's WAL re-seals
 *   them under the active DEK in place (options.resealWal → Wal.resealToActiveDek: the tail segment is
 *   rolled, then each closed segment and the snapshot file holding an older DEK is rewritten and
 *   atomically replaced), so an idle member does not wait for log compaction to let go of the old DEK.
 * A DEK is retired (keyring.retireDek: key wiped, keyring file rewritten atomically) only when the
 * headers of all of these name it nowhere, only once that state is durable — the store writes its
 * batches without an fsync, so its re-sealed pages are synced (MvccStore.syncToDisk) between the count
 * and the retirement, else a power cut could bring back pages sealed with a DEK the keyring no longer
 * holds — and only once no file of the store's holds a superseded version sealed with it: re-encryption
 * overwrites each page and physical compaction deletes pages, and LevelDB keeps the old bytes in its
 * journal and tables until a compaction drops them, so the store is purged (MvccStore.purge) first.
 * The WAL and the small files are replaced whole (write, rename), so nothing of theirs stays in a file.
 * Each check (after a pass, then every dekRetireCheckIntervalMs while an older DEK remains) re-seals the
 * WAL first, then counts; a purge the store's open reads hold up past dekRetireReadersWaitMs retires
 * nothing, and the next check tries again.
 *
 * Invariant: nothing is ever sealed with a non-active DEK, so a count of zero for an old DEK stays zero
 * and the check-then-retire needs no lock against writers.
 */
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../../base/index.ts';
import { dekRetireCheckIntervalMs, dekRetireReadersWaitMs } from '../../config/index.ts';
import { type Keyring, keyContentKek, passphraseKek, type SealedFile } from '../../crypto/index.ts';
import type { DurableFs } from '../../durable/index.ts';
import type { MvccStore } from '../mvcc/index.ts';
import { walDekUsage } from '../wal/index.ts';
import { Reencrypter } from './reencrypt.ts';
import type { MemberKeysStatus, NewKek } from './status.ts';

export interface MemberKeysOptions {
  member: string;
  dataDir: string;
  keyring: Keyring;
  /** The member's store (a function: a snapshot install replaces it). */
  store: () => MvccStore;
  /**
   * Whether a store is being built to replace it (a snapshot from the leader being imported,
   * Replica.installingSnapshot): its pages, sealed with the DEK active when the import began, are in
   * no count, so no DEK is retired meanwhile. Absent: none ever is (tests of a bare store).
   */
  storeArriving?: () => boolean;
  /** The member's small sealed files (identity, audit signing key), counted and re-sealed with the stores; none in tests of a bare store. */
  sealedFiles?: readonly SealedFile[];
  clock: Clock;
  log: { info(fields: object, message: string): void; warn(fields: object, message: string): void };
  /**
   * Re-seals the member's WAL under the active DEK (Replica.resealWal); absent in tests of a bare
   * store, where WAL records leave only with log compaction.
   */
  resealWal?: () => Promise<unknown>;
  /** The file system the member's WAL is read from (default: the real one; the simulator passes its own). */
  fs?: DurableFs;
  /** Re-encryption limits (defaults from config/limits.ts). */
  pagesPerSecondMax?: number;
  batchPagesMax?: number;
  /** How long a retirement check waits for the store's open reads (default dekRetireReadersWaitMs). */
  readersWaitMs?: number;
}

interface Usage {
  pages: Map<number, number>;
  walRecords: Map<number, number>;
  files: Map<number, number>;
}

export class MemberKeys {
  private readonly reencrypter: Reencrypter;
  private retireTimer: TimerHandle | undefined;
  private retiring: Promise<number[]> | undefined;
  /** The latest re-seal-then-retire round (after a pass, or from the timer); it never rejects. */
  private round: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: MemberKeysOptions) {
    this.reencrypter = new Reencrypter({
      store: options.store,
      clock: options.clock,
      ...(options.pagesPerSecondMax !== undefined ? { pagesPerSecondMax: options.pagesPerSecondMax } : {}),
      ...(options.batchPagesMax !== undefined ? { batchPagesMax: options.batchPagesMax } : {}),
      onPassEnd: (error) => {
        if (error !== undefined) {
          if (!this.closed) options.log.warn({ reason: error.message }, 're-encryption stopped early');
          return;
        }
        this.round = this.retireWhenUnused();
      },
    });
  }

  /** Resumes an unfinished rotation (a keyring holding older DEKs) after a restart. */
  start(): void {
    if (this.options.keyring.status().deks.length > 1) this.reencrypter.start();
  }

  async status(): Promise<MemberKeysStatus> {
    const keys = this.options.keyring.status();
    const usage = await this.usage();
    const progress = this.reencrypter.progress();
    let older = 0;
    for (const [id, n] of usage.pages) if (id !== keys.activeDekId) older += n;
    return {
      member: this.options.member,
      kek: { source: keys.kekSource, description: keys.kekDescription },
      activeDekId: keys.activeDekId,
      deks: keys.deks.map((d) => ({
        id: d.id, createdAt: new Date(d.createdAtMs).toISOString(), active: d.active,
        pages: usage.pages.get(d.id) ?? 0, walRecords: usage.walRecords.get(d.id) ?? 0, files: usage.files.get(d.id) ?? 0,
      })),
      retired: keys.retired.map((r) => ({ id: r.id, retiredAt: new Date(r.retiredAtMs).toISOString() })),
      reencryption: {
        running: progress.running, targetDekId: progress.targetDekId, pagesResealed: progress.pagesResealed, pagesOnOlderDeks: older,
        ...reencryptionPace(progress, older, this.options.clock.nowMs()),
        ...(progress.startedAtMs !== undefined ? { startedAt: new Date(progress.startedAtMs).toISOString() } : {}),
        ...(progress.finishedAtMs !== undefined ? { finishedAt: new Date(progress.finishedAtMs).toISOString() } : {}),
        ...(progress.error !== undefined ? { error: progress.error } : {}),
      },
    };
  }

  /** Makes a new DEK active, re-seals the small sealed files under it and starts re-encrypting the store. */
  async rotateDek(): Promise<{ dekId: number }> {
    const dekId = await this.options.keyring.rotateDek();
    await this.resealFiles();
    this.reencrypter.start();
    this.options.log.info({ dekId }, 'DEK rotated');
    return { dekId };
  }

  async rotateKek(next: NewKek): Promise<{ kek: { source: string; description: string } }> {
    // The same providers (and so the same checks and argon2id parameters) as unsealing at start.
    const provider = 'passphrase' in next ? passphraseKek(next.passphrase) : keyContentKek(next.unsealKey, 'the new unseal key');
    try {
      await this.options.keyring.rotateKek(provider);
    } finally {
      provider.forget();
    }
    const keys = this.options.keyring.status();
    this.options.log.info({ kekSource: keys.kekSource }, 'KEK rotated');
    return { kek: { source: keys.kekSource, description: keys.kekDescription } };
  }

  /** Resolves when no re-encryption pass is running and the WAL re-seal and retirement check after it are done. */
  async whenReencrypted(): Promise<void> {
    await this.reencrypter.whenIdle();
    await this.round;
  }

  /** Retires every non-active DEK nothing uses any more; returns their ids. One check at a time. */
  retireUnused(): Promise<number[]> {
    this.retiring ??= this.retireNow().finally(() => {
      this.retiring = undefined;
    });
    return this.retiring;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.retireTimer?.cancel();
    await this.reencrypter.stop();
    await this.round;
    await this.retiring?.catch(() => undefined);
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────────

  private async retireNow(): Promise<number[]> {
    const { keyring } = this.options;
    const keys = keyring.status();
    const older = keys.deks.filter((d) => !d.active).map((d) => d.id);
    if (older.length === 0 || this.closed) return [];
    const store = this.options.store();
    // Pages a compaction has dropped from the index may still be on disk: let them go first.
    await store.whenCompacted();
    const usage = await this.usage();
    const unused = older.filter((id) => (usage.pages.get(id) ?? 0) + (usage.walRecords.get(id) ?? 0) + (usage.files.get(id) ?? 0) === 0);
    if (unused.length === 0) return [];
    if (this.storeReplaced(store)) return [];
    // Counted unused in the store as it is now (page cache included); nothing is sealed with an older
    // DEK any more, so once synced, the durable store needs none of them either.
    await store.syncToDisk();
    // Every version LevelDB's files still hold of what the store overwrote or deleted goes too.
    const purge = await store.purge(this.options.readersWaitMs ?? dekRetireReadersWaitMs);
    if (!purge.purged) {
      this.options.log.info({ dekIds: unused, reason: purge.why }, 'DEK retirement waits: the store\'s files may still hold records sealed with it');
      return [];
    }
    // Again after the purge, which takes a while: an import may have begun or ended meanwhile.
    if (this.storeReplaced(store)) return [];
    const done: number[] = [];
    for (const id of unused) {
      await keyring.retireDek(id);
      done.push(id);
      this.options.log.info({ dekId: id }, 'DEK retired: nothing sealed with it remains');
    }
    return done;
  }

  /**
   * Whether what was counted is not the store in use, or will not be: one arriving (or arrived since)
   * holds pages sealed with the DEK active when its import began, which may be one counted unused.
   */
  private storeReplaced(counted: MvccStore): boolean {
    if (this.options.storeArriving?.() !== true && this.options.store() === counted) return false;
    this.options.log.info({}, 'DEK retirement waits: a store from the leader is being installed');
    return true;
  }

  /** Re-seals the WAL, retires what it can now, and checks again later while an older DEK remains. */
  private async retireWhenUnused(): Promise<void> {
    this.retireTimer?.cancel();
    this.retireTimer = undefined;
    await this.resealWal();
    try {
      await this.retireUnused();
    } catch (error) {
      if (!this.closed) this.options.log.warn({ reason: (error as Error).message }, 'DEK retirement check failed');
    }
    if (this.closed || this.options.keyring.status().deks.length <= 1) return;
    this.retireTimer = this.options.clock.setTimer(dekRetireCheckIntervalMs, () => {
      this.round = this.retireWhenUnused();
    });
  }

  /** Moves the WAL's records off older DEKs (if wired and an older DEK remains); a failure is logged, the check goes on. */
  private async resealWal(): Promise<void> {
    const { resealWal, keyring, log } = this.options;
    if (resealWal === undefined || this.closed || keyring.status().deks.length <= 1) return;
    try {
      await resealWal();
    } catch (error) {
      if (!this.closed) log.warn({ reason: (error as Error).message }, 'WAL re-seal failed; its records stay on the older DEK for now');
    }
  }

  /** Who still names each DEK: MVCC records, WAL records, other sealed files — from headers only. */
  private async usage(): Promise<Usage> {
    const { keyring, dataDir } = this.options;
    const files = new Map<number, number>();
    for (const file of this.options.sealedFiles ?? []) {
      const sealed = await file.sealed();
      if (sealed === undefined) continue;
      const id = keyring.dekIdOf(sealed);
      files.set(id, (files.get(id) ?? 0) + 1);
    }
    return {
      pages: await this.options.store().pagesPerDek(),
      walRecords: await walDekUsage(join(dataDir, 'wal'), (sealed) => keyring.dekIdOf(sealed), this.options.fs),
      files,
    };
  }

  private async resealFiles(): Promise<void> {
    for (const file of this.options.sealedFiles ?? []) await file.reseal();
  }
}

/**
 * How fast a running pass goes (pages re-sealed per second since it started) and how long the pages
 * left would take at that pace; nothing before the pass has re-sealed a page or once it stopped.
 */
export function reencryptionPace(
  progress: { running: boolean; startedAtMs: number | undefined; pagesResealed: number }, pagesLeft: number, nowMs: number,
): { pagesPerSecond: number; secondsLeft: number } | Record<string, never> {
  if (!progress.running || progress.startedAtMs === undefined || progress.pagesResealed === 0 || nowMs <= progress.startedAtMs) return {};
  const pagesPerSecond = progress.pagesResealed / ((nowMs - progress.startedAtMs) / 1000);
  return { pagesPerSecond: Math.round(pagesPerSecond), secondsLeft: Math.ceil(pagesLeft / pagesPerSecond) };
}
