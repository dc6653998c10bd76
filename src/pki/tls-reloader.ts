/**
 * Hot reload of TLS material. Watches the directories holding the cert, key, CA and CRL (directories,
 * because atomic writes replace the file's inode and a watch on the old inode would go quiet), waits
 * tlsReloadDebounceMs after the last event (a rotation writes key then certificate), reloads and
 * checks the set, and hands it to every attached server with setSecureContext(): new handshakes use
 * the new material, connections already open keep theirs. `reload()` is the same step on demand
 * (SIGHUP).
 *
 * A set that fails to load (say, the key replaced before its certificate) is reported through
 * 'reloadFailed' and the previous material stays in use; the next file event tries again.
 *
 * Revocation reaches open connections too (docs/security.md, "Revocation"): every connection an
 * attached server accepts, and every dialed one handed to guard(), is remembered with its peer's
 * certificate; each reload, and a check every tlsHeldCertificateCheckIntervalMs, closes those whose
 * certificate the current CRL revokes or whose validity has ended. accepts() is the same test for one
 * certificate, for callers that check per request.
 * Invariant: `material` is always a set that passed loadTlsMaterial; after a reload or check, no
 * guarded connection holds a certificate that accepts() refuses.
 */
import { EventEmitter } from 'node:events';
import { type FSWatcher, watch } from 'node:fs';
import type { ConnectionOptions, Server, TLSSocket, TlsOptions } from 'node:tls';
import { basename, dirname, resolve } from 'node:path';
import { type Clock, realClock, type TimerHandle } from '../base/index.ts';
import { tlsHeldCertificateCheckIntervalMs, tlsReloadDebounceMs } from '../config/index.ts';
import { heldCertificate, type HeldCertificate, stillValid } from './held-certificate.ts';
import { loadTlsMaterial, type TlsFiles, type TlsMaterial } from './tls-material.ts';
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
  private readonly watchers: FSWatcher[] = [];
  private readonly clock: Clock;
  private readonly debounceMs: number;
  private pending: TimerHandle | undefined;
  /** Reloads run one at a time, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Open connections and the certificate each peer presented. */
  private readonly guarded = new Map<TLSSocket, HeldCertificate>();
  private check: TimerHandle | undefined;
  private closed = false;

  private constructor(material: TlsMaterial, options: TlsReloaderOptions) {
    super();
    this.current = material;
    this.clock = options.clock ?? realClock;
    this.debounceMs = options.debounceMs ?? tlsReloadDebounceMs;
  }

  /** Loads and checks the files once; throws the load error (one line) if they are not usable. */
  static async open(files: TlsFiles, options: TlsReloaderOptions = {}): Promise<TlsReloader> {
    return new TlsReloader(await loadTlsMaterial(files, (options.clock ?? realClock).nowMs()), options);
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
    const run = this.queue.then(() => this.reloadOnce());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Starts watching the files' directories. */
  watch(): void {
    if (this.watchers.length > 0) return;
    const files = this.current.files;
    const paths = [files.cert, files.key, files.ca, ...(files.crl === undefined ? [] : [files.crl])].map((p) => resolve(p));
    const byDir = new Map<string, Set<string>>();
    for (const path of paths) {
      const names = byDir.get(dirname(path)) ?? new Set<string>();
      names.add(basename(path));
      byDir.set(dirname(path), names);
    }
    for (const [dir, names] of byDir) {
      const watcher = watch(dir, { persistent: false }, (_event, filename) => {
        if (filename === null || names.has(filename.toString())) this.schedule();
      });
      watcher.on('error', (error) => this.emit('reloadFailed', error));
      this.watchers.push(watcher);
    }
  }

  close(): void {
    this.closed = true;
    for (const watcher of this.watchers) watcher.close();
    this.watchers.length = 0;
    this.pending?.cancel();
    this.pending = undefined;
    this.check?.cancel();
    this.check = undefined;
  }

  private schedule(): void {
    this.pending?.cancel();
    this.pending = this.clock.setTimer(this.debounceMs, () => {
      this.pending = undefined;
      this.reload().catch(() => undefined); // reported through 'reloadFailed'
    });
  }

  private async reloadOnce(): Promise<TlsMaterial> {
    let material: TlsMaterial;
    try {
      material = await loadTlsMaterial(this.current.files, this.clock.nowMs());
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

  /** While connections are guarded, checks them every tlsHeldCertificateCheckIntervalMs (expiry needs no reload). */
  private armCheck(): void {
    if (this.check !== undefined || this.closed) return;
    this.check = this.clock.setTimer(tlsHeldCertificateCheckIntervalMs, () => {
      this.check = undefined;
      this.closeRefused();
      if (this.guarded.size > 0) this.armCheck();
    });
  }
}
