/**
 * Hot reload of TLS material. Watches the directories holding the cert, key, CA and CRL (directories,
 * because atomic writes replace the file's inode and a watch on the old inode would go quiet) and, for
 * a file that is a symlink, the directory it leads to. Any event in them counts, whatever name it
 * carries: a Kubernetes Secret or ConfigMap volume changes by renaming `..data` (each file is a link
 * through it), and no event names the file. tlsReloadDebounceMs after the last event (a rotation writes
 * key then certificate) the files are read again; if they hold what is loaded, nothing happens, else the
 * set is checked and handed to every attached server with setSecureContext(): new handshakes use the
 * new material, connections already open keep theirs. While watching, the files are also read again
 * every tlsHeldCertificateCheckIntervalMs, so a change no event reports (a network volume, a link
 * swapped in a directory not watched) is loaded within that period. `reload()` loads and checks the
 * files on demand (SIGHUP), changed or not.
 *
 * A set that fails to load (say, the key replaced before its certificate, or a CRL older than the one
 * loaded) is reported through 'reloadFailed' and the previous material stays in use; the next file
 * event or check tries again.
 *
 * Revocation reaches open connections too (docs/security.md, "Revocation"): every connection an
 * attached server accepts, and every dialed one handed to guard(), is remembered with its peer's
 * certificate; each reload, and a check every tlsHeldCertificateCheckIntervalMs, closes those whose
 * certificate the current CRL revokes or whose validity has ended. accepts() is the same test for one
 * certificate, for callers that check per request.
 * Invariant: `material` is always a set that passed checkTlsMaterial; after a reload or check, no
 * guarded connection holds a certificate that accepts() refuses.
 */
import { EventEmitter } from 'node:events';
import { type FSWatcher, watch } from 'node:fs';
import { realpath } from 'node:fs/promises';
import type { ConnectionOptions, Server, TLSSocket, TlsOptions } from 'node:tls';
import { dirname, resolve } from 'node:path';
import { type Clock, realClock, type TimerHandle } from '../base/index.ts';
import { tlsHeldCertificateCheckIntervalMs, tlsReloadDebounceMs } from '../config/index.ts';
import { isNotFound } from './files.ts';
import { heldCertificate, type HeldCertificate, stillValid } from './held-certificate.ts';
import { checkTlsMaterial, loadTlsMaterial, readTlsTexts, sameTexts, type TlsFiles, type TlsMaterial } from './tls-material.ts';
import { clientTlsOptions, type ClientTlsOptions, secureContextOptions, serverTlsOptions } from './tls-options.ts';

export interface TlsReloaderEvents {
  reloaded: [material: TlsMaterial];
  reloadFailed: [error: Error];
  /** Open connections just closed because their peer's certificate is revoked or expired. */
  connectionsClosed: [count: number];
}

export interface TlsReloaderOptions {
  clock?: Clock;
  debounceMs?: number;
}

export class TlsReloader extends EventEmitter<TlsReloaderEvents> {
  private current: TlsMaterial;
  private readonly servers = new Set<Server>();
  /** By directory: the files' own, and those their symlinks lead to. */
  private readonly watchers = new Map<string, FSWatcher>();
  private watching = false;
  /** The directories to watch as found at open(); each re-read finds them again (directoriesOf). */
  private readonly directories: ReadonlySet<string>;
  private readonly clock: Clock;
  private readonly debounceMs: number;
  private pending: TimerHandle | undefined;
  /** Reloads run one at a time, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Open connections and the certificate each peer presented. */
  private readonly guarded = new Map<TLSSocket, HeldCertificate>();
  private check: TimerHandle | undefined;
  private closed = false;

  private constructor(material: TlsMaterial, directories: ReadonlySet<string>, options: TlsReloaderOptions) {
    super();
    this.current = material;
    this.directories = directories;
    this.clock = options.clock ?? realClock;
    this.debounceMs = options.debounceMs ?? tlsReloadDebounceMs;
  }

  /** Loads and checks the files once; throws the load error (one line) if they are not usable. */
  static async open(files: TlsFiles, options: TlsReloaderOptions = {}): Promise<TlsReloader> {
    return new TlsReloader(await loadTlsMaterial(files, (options.clock ?? realClock).nowMs()), await directoriesOf(files), options);
  }

  get material(): TlsMaterial {
    return this.current;
  }

  /** Options for tls.createServer / https.createServer from the current material. */
  serverOptions(): TlsOptions {
    return serverTlsOptions(this.current);
  }

  /** Options for one dial (tls.connect / https.request) with the current material. */
  clientOptions(options?: ClientTlsOptions): ConnectionOptions {
    return clientTlsOptions(this.current, options);
  }

  /**
   * `server` (tls.Server or https.Server, e.g. fastify's `app.server`) gets the current material now
   * and every reload after.
   */
  attach(server: Server): void {
    server.setSecureContext(secureContextOptions(this.current));
    this.servers.add(server);
    server.on('secureConnection', (socket: TLSSocket) => this.guard(socket));
    server.once('close', () => this.servers.delete(server));
  }

  /** Whether a certificate verified at some handshake is still good: not revoked by the current CRL, within its validity now. */
  accepts(held: HeldCertificate): boolean {
    return stillValid(held, this.current.revokedSerials, this.clock.nowMs());
  }

  /**
   * Keeps `socket` (an accepted or a dialed connection, after its handshake) open only while its peer's
   * certificate stays accepted: closed at once if it already is not (a handshake that began before a
   * reload), else at the reload or check that finds it revoked or expired.
   */
  guard(socket: TLSSocket): void {
    if (socket.destroyed) return;
    const held = heldCertificate(socket.getPeerCertificate());
    if (held === undefined || !this.accepts(held)) {
      socket.destroy();
      this.emit('connectionsClosed', 1);
      return;
    }
    this.guarded.set(socket, held);
    socket.once('close', () => this.guarded.delete(socket));
    this.armCheck();
  }

  /** Reloads now; resolves with the new material or rejects with the load error (old material kept). */
  reload(): Promise<TlsMaterial> {
    return this.enqueue(() => this.reloadOnce(false));
  }

  /** Starts watching the files' directories, and re-reading the files every tlsHeldCertificateCheckIntervalMs. */
  watch(): void {
    if (this.watching || this.closed) return;
    this.watching = true;
    this.watchOnly(this.directories);
    this.armCheck();
  }

  close(): void {
    this.closed = true;
    this.watching = false;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
    this.pending?.cancel();
    this.pending = undefined;
    this.check?.cancel();
    this.check = undefined;
  }

  /** Runs `step` after every reload queued before it. */
  private enqueue(step: () => Promise<TlsMaterial>): Promise<TlsMaterial> {
    const run = this.queue.then(step);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private schedule(): void {
    this.pending?.cancel();
    this.pending = this.clock.setTimer(this.debounceMs, () => {
      this.pending = undefined;
      this.refresh();
    });
  }

  /** After a file event, and at each check: follows the symlinks again, and reloads if a file changed. */
  private refresh(): void {
    this.enqueue(async () => {
      const directories = await directoriesOf(this.current.files);
      if (this.watching) this.watchOnly(directories); // not after close()
      return this.reloadOnce(true);
    }).catch(() => undefined); // reported through 'reloadFailed'
  }

  /**
   * Watches `directories` and no other: a directory a symlink no longer leads to (a Kubernetes volume's
   * replaced version, removed) is let go. Any event schedules a re-read.
   */
  private watchOnly(directories: ReadonlySet<string>): void {
    for (const [dir, watcher] of this.watchers) {
      if (directories.has(dir)) continue;
      watcher.close();
      this.watchers.delete(dir);
    }
    for (const dir of directories) {
      if (this.watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, { persistent: false }, () => this.schedule());
        watcher.on('error', (error) => this.emit('reloadFailed', error));
        this.watchers.set(dir, watcher);
      } catch (error) {
        // Gone since it was found (a volume version replaced again): the next re-read finds the links anew.
        if (!isNotFound(error)) this.emit('reloadFailed', error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  /** Loads and checks the files; with `onlyIfChanged`, does nothing (no event) if they hold what is loaded. */
  private async reloadOnce(onlyIfChanged: boolean): Promise<TlsMaterial> {
    let material: TlsMaterial;
    try {
      const texts = await readTlsTexts(this.current.files);
      if (onlyIfChanged && sameTexts(texts, this.current)) return this.current;
      material = await checkTlsMaterial(this.current.files, texts, this.clock.nowMs(), this.current);
    } catch (error) {
      this.emit('reloadFailed', error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    const context = secureContextOptions(material);
    for (const server of this.servers) server.setSecureContext(context);
    this.current = material;
    this.closeRefused();
    this.emit('reloaded', material);
    return material;
  }

  /** Closes every guarded connection whose certificate accepts() now refuses. */
  private closeRefused(): void {
    let count = 0;
    for (const [socket, held] of this.guarded) {
      if (this.accepts(held)) continue;
      this.guarded.delete(socket);
      socket.destroy();
      count++;
    }
    if (count > 0) this.emit('connectionsClosed', count);
  }

  /**
   * While connections are guarded or the files watched, every tlsHeldCertificateCheckIntervalMs: closes
   * the connections whose certificate expired (expiry needs no reload) and re-reads the files (a change
   * no event reported).
   */
  private armCheck(): void {
    if (this.check !== undefined || this.closed || (this.guarded.size === 0 && !this.watching)) return;
    this.check = this.clock.setTimer(tlsHeldCertificateCheckIntervalMs, () => {
      this.check = undefined;
      this.closeRefused();
      if (this.watching) this.refresh();
      this.armCheck();
    });
  }
}

/**
 * The directories a change to `files` shows in: each file's own and, for a symlink, the one it finally
 * resolves to (a link into the CA's directory: `coffer ca revoke` renames nothing beside the link).
 */
async function directoriesOf(files: TlsFiles): Promise<Set<string>> {
  const directories = new Set<string>();
  for (const path of [files.cert, files.key, files.ca, ...(files.crl === undefined ? [] : [files.crl])]) {
    directories.add(dirname(resolve(path)));
    // A file missing now resolves nowhere; the load reports it, and its own directory shows its return.
    const target = await realpath(path).catch(() => undefined);
    if (target !== undefined) directories.add(dirname(target));
  }
  return directories;
}
