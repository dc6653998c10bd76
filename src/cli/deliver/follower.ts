/**
 * Follows the Secrets and ConfigMaps of `coffer exec` and `coffer render`: reads each once (read()),
 * then keeps them current (follow()) and calls `onChange` with every source's values whenever one
 * changes. Values never reach a message; messages name sources, endpoints and resourceVersions.
 *
 * How a change is seen: a watch per source (fieldSelector metadata.name=NAME, with bookmarks), and a
 * read of every source each check interval, which also finds a new pending stage (staging changes
 * nothing a watch reports) and covers a watch that went quiet. A watch event only triggers a read: the
 * values always come from a read. With --stage pending a Secret's values are its pending stage when it
 * has one (the merged data promote will make current), else its current data.
 *
 * Failover: a failure to reach or read a member (refused, reset, timed out, a 5xx, a watch that broke or
 * brought nothing for deliverWatchIdleMs) moves to the next endpoint after a backoff (deliverRetryMsMin
 * doubling to deliverRetryMsMax); meanwhile the program keeps the values it has. The credentials are
 * read and checked again from disk before each retry and at each check, so a certificate rotated on
 * disk is picked up at the next failover and one that expired or was revoked (in the CRL beside the
 * CA) ends the command.
 *
 * What ends the command (`failed` rejects with one line): the server refusing the caller (401, 403),
 * credentials refused locally, a Secret whose values are withheld, and at the start a source that does
 * not exist. A source deleted later is reported, and its last values are kept until it returns.
 */
import { CofferError } from '../../base/index.ts';
import {
  isClientError, isK8sApiError, K8sClient, type K8sObject, type K8sResource, type K8sWatch,
} from '../../client/index.ts';
import { deliverRetryMsMax, deliverRetryMsMin, deliverWatchIdleMs } from '../../config/index.ts';
import { type CredentialFiles, readCredentials } from '../credentials.ts';
import { CliError, errorLine } from '../errors.ts';
import { describeSource, sameValues, type Source, type SourceValues, valuesOf, wipeValues } from './sources.ts';

export interface FollowerOptions {
  endpoints: readonly string[];
  credentials: CredentialFiles;
  sources: readonly Source[];
  stage: 'current' | 'pending';
  checkIntervalMs: number;
  /** Called with every source's values, one call at a time; the values are valid until it resolves. */
  onChange(snapshot: readonly SourceValues[]): Promise<void>;
  /** A line for the user (reconnecting, a source deleted): never carries a value. */
  notice(line: string): void;
}

const resources: Readonly<Record<Source['kind'], K8sResource>> = { secret: 'secrets', configmap: 'configmaps' };

export class Follower {
  /** Rejects with the error that ends the command; never resolves. */
  readonly failed: Promise<never>;
  private fail: (error: Error) => void = () => undefined;
  private client: K8sClient | undefined;
  /** Index into endpoints of the member tried first; moves on at each failover. */
  private offset = 0;
  /** Counts failovers, so that failures seen on the same client move to the next endpoint once. */
  private generation = 0;
  private readonly state: (SourceValues | undefined)[];
  private readonly deleted = new Set<number>();
  private readonly watches = new Set<K8sWatch>();
  private readonly reads = new Map<number, Promise<void>>();
  private retired: Map<string, Buffer>[] = [];
  private dirty = false;
  private delivering: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private stopped = false;

  constructor(private readonly options: FollowerOptions) {
    this.state = options.sources.map(() => undefined);
    this.failed = new Promise<never>((_resolve, reject) => {
      this.fail = (error) => {
        if (!this.stopped) reject(error);
      };
    });
    this.failed.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  }

  /** Reads every source once; throws a CliError for a source missing or refused, or the client's error. */
  async read(): Promise<readonly SourceValues[]> {
    this.client = new K8sClient({ endpoints: this.options.endpoints, tls: await readCredentials(this.options.credentials) });
    for (const [i, source] of this.options.sources.entries()) {
      const found = await this.fetch(this.client, source).catch((error: unknown) => { throw asCliError(source, error); });
      if (found === undefined) throw new CliError(`${describeSource(source)} not found`);
      this.state[i] = found;
    }
    return this.state as SourceValues[];
  }

  /** Starts following; read() first. */
  follow(): void {
    this.options.sources.forEach((_, i) => void this.watchLoop(i));
    this.timer = setInterval(() => void this.checkAll(), this.options.checkIntervalMs);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    for (const watch of this.watches) watch.close();
    this.client?.close();
    void this.delivering.finally(() => {
      for (const s of this.state) if (s !== undefined) wipeValues(s.values);
      for (const values of this.retired.splice(0)) wipeValues(values);
    });
  }

  private async watchLoop(i: number): Promise<void> {
    const source = this.options.sources[i] as Source;
    let backoffMs = deliverRetryMsMin;
    while (!this.stopped) {
      const generation = this.generation;
      const client = this.client as K8sClient;
      let idle = false;
      try {
        await this.refresh(i, client);
        if (this.stopped) return;
        const known = this.deleted.has(i) ? undefined : this.state[i];
        const watch = await client.watch(resources[source.kind], {
          namespace: source.namespace, fieldSelector: `metadata.name=${source.name}`, allowBookmarks: true,
          ...(known === undefined ? {} : { resourceVersion: known.resourceVersion }),
        });
        // stop() closes the watches it knows: one that opened after it is closed here.
        if (this.stopped) {
          watch.close();
          return;
        }
        this.watches.add(watch);
        let idleTimer = setTimeout(() => { idle = true; watch.close(); }, deliverWatchIdleMs);
        try {
          for await (const event of watch) {
            backoffMs = deliverRetryMsMin;
            clearTimeout(idleTimer);
            idleTimer = setTimeout(() => { idle = true; watch.close(); }, deliverWatchIdleMs);
            if (event.type !== 'BOOKMARK') await this.refresh(i, client);
          }
        } finally {
          clearTimeout(idleTimer);
          this.watches.delete(watch);
        }
        // Ended by the member, by a failover (the loop goes on with the new client), or gone quiet.
        if (idle && !this.stopped) throw new QuietWatchError(`the watch of ${describeSource(source)} brought nothing for ${deliverWatchIdleMs / 1000} s`);
        await delay(deliverRetryMsMin); // a member that keeps ending watches at once is not asked in a tight loop
      } catch (error) {
        if (this.stopped) return;
        if (!(await this.recover(error, generation))) return;
        await delay(backoffMs);
        backoffMs = Math.min(backoffMs * 2, deliverRetryMsMax);
      }
    }
  }

  /**
   * Each check interval: the credentials again (a certificate revoked or expired since the start ends
   * the command, though open connections would carry on), then every source; a failure to read moves
   * to the next member as a watch's would.
   */
  private async checkAll(): Promise<void> {
    if (this.checking || this.stopped) return;
    this.checking = true;
    const generation = this.generation;
    try {
      await readCredentials(this.options.credentials).catch((refused: unknown) => {
        this.fail(refused instanceof Error ? refused : new Error(String(refused)));
      });
      if (this.stopped) return;
      const client = this.client as K8sClient;
      await Promise.all(this.options.sources.map((_, i) => this.refresh(i, client)));
    } catch (error) {
      await this.recover(error, generation);
    } finally {
      this.checking = false;
    }
  }

  /**
   * After a failure: false (and `failed` rejects) when it ends the command; otherwise moves to the next
   * endpoint with freshly read credentials (once per client generation) and returns true.
   */
  private async recover(error: unknown, generation: number): Promise<boolean> {
    if (!isTransient(error)) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return false;
    }
    if (generation !== this.generation) return true;
    this.generation++;
    this.offset++;
    const endpoints = this.options.endpoints.map((_, k) => this.options.endpoints[(this.offset + k) % this.options.endpoints.length] as string);
    this.options.notice(`${errorLine(error)}; trying ${endpoints[0] ?? ''} next`);
    let tls;
    try {
      tls = await readCredentials(this.options.credentials);
    } catch (refused) {
      this.fail(refused instanceof Error ? refused : new Error(String(refused)));
      return false;
    }
    this.client?.close();
    this.client = new K8sClient({ endpoints, tls });
    for (const watch of this.watches) watch.close();
    return true;
  }

  /** Reads source i (one read at a time per source, a request during one runs after it) and delivers a change. */
  private refresh(i: number, client: K8sClient): Promise<void> {
    const running = this.reads.get(i) ?? Promise.resolve();
    const next = running.catch(() => undefined).then(async () => {
      if (this.stopped) return;
      const source = this.options.sources[i] as Source;
      const found = await this.fetch(client, source);
      if (found === undefined) {
        if (!this.deleted.has(i)) this.options.notice(`${describeSource(source)} was deleted; keeping its last values until it is back`);
        this.deleted.add(i);
        return;
      }
      this.deleted.delete(i);
      const known = this.state[i];
      if (known !== undefined && known.stage === found.stage && sameValues(known.values, found.values)) {
        known.resourceVersion = found.resourceVersion;
        wipeValues(found.values);
        return;
      }
      if (known !== undefined) this.retired.push(known.values);
      this.state[i] = found;
      this.deliver();
    });
    this.reads.set(i, next);
    return next;
  }

  /** Calls onChange with the latest values, one call at a time; values replaced before a call are wiped after it. */
  private deliver(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.delivering = this.delivering.then(async () => {
      if (this.stopped) return;
      this.dirty = false;
      const retired = this.retired.splice(0);
      try {
        await this.options.onChange(this.state as SourceValues[]);
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
      } finally {
        for (const values of retired) wipeValues(values);
      }
    });
  }

  /** A source's values now (its pending stage, when pinned to it and there is one); undefined if it does not exist. */
  private async fetch(client: K8sClient, source: Source): Promise<SourceValues | undefined> {
    let object: K8sObject;
    try {
      object = await client.get(resources[source.kind], source.name, { namespace: source.namespace });
    } catch (error) {
      if (isK8sApiError(error) && error.code === 404) return undefined;
      throw error;
    }
    const resourceVersion = object.metadata.resourceVersion ?? '';
    if (source.kind === 'secret' && this.options.stage === 'pending') {
      try {
        const pending = await client.secretStage(source.name, 'pending', { namespace: source.namespace });
        return { source, resourceVersion, stage: 'pending', values: valuesOf(source, pending) };
      } catch (error) {
        if (!isK8sApiError(error) || error.code !== 404) throw error;
      }
    }
    return { source, resourceVersion, stage: 'current', values: valuesOf(source, object) };
  }
}

/** A watch that brought nothing, not even a bookmark, for deliverWatchIdleMs. */
class QuietWatchError extends CofferError {
  readonly code = 'E_QUIET_WATCH';
}

/** A failure worth retrying on another member: the connection, a 5xx, an expired watch, a quiet watch. */
function isTransient(error: unknown): boolean {
  if (isClientError(error) || error instanceof QuietWatchError) return true;
  return isK8sApiError(error) && (error.code >= 500 || error.code === 410 || error.code === 429);
}

/** The first read's failure as the line that ends the command. */
function asCliError(source: Source, error: unknown): unknown {
  if (error instanceof CliError) return error;
  if (isK8sApiError(error) || isClientError(error)) return new CliError(`cannot read ${describeSource(source)}: ${errorLine(error)}`);
  return error;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
