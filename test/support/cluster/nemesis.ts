/**
 * A seeded nemesis: one fault at a time, each held for a while and then undone, with quiet gaps
 * between. Faults: SIGKILL a minority and restart it; SIGKILL the leader and restart it; SIGSTOP the
 * leader for longer than the election timeout and SIGCONT it; cut one link in one direction or both
 * (drop or blackhole); isolate the leader. At most a minority is ever faulty, so the cluster can make
 * progress during every fault.
 *
 * Crash points (Coffer only): SIGKILL a member during a DEK rotation (rotate-dek, then a kill within
 * the re-encryption pass), during the WAL re-seal that follows the pass (a kill right after `keys`
 * status says the pass ended), and during a snapshot install (a follower is killed until the leader
 * compacted past its log, restarted, and killed again once its data dir shows the imported store,
 * mvcc.incoming). Each kill is noted with what the member's data dir showed at that moment.
 *
 * The schedule comes from the seed; what the cluster does in response does not, so a seed replays the
 * same kinds and order of faults, not the same history.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Random } from '../../../src/base/index.ts';
import { K8sClient } from '../../../src/client/index.ts';
import type { Cluster } from './cluster.ts';
import { delay } from './cluster.ts';
import type { FaultMode } from './network.ts';

export type FaultKind = 'kill-minority' | 'kill-leader' | 'pause-leader' | 'cut-one-way' | 'cut-both' | 'isolate-leader'
  | 'kill-during-dek-rotation' | 'kill-during-wal-reseal' | 'kill-during-snapshot-install';

export const crashPointFaults: readonly FaultKind[] = ['kill-during-dek-rotation', 'kill-during-wal-reseal', 'kill-during-snapshot-install'];

export const allFaults: readonly FaultKind[] = ['kill-minority', 'kill-leader', 'pause-leader', 'cut-one-way', 'cut-both', 'isolate-leader'];

export interface NemesisOptions {
  cluster: Cluster;
  random: Random;
  faults?: readonly FaultKind[];
  /** How long a fault is held: [min, max] ms; pauses always last beyond the election timeout. */
  holdMs?: [number, number];
  quietMs?: [number, number];
  /** Take the kinds in turn (in the given order) instead of at random, so each one happens. */
  inTurn?: boolean;
  log?: (line: string) => void;
}

export class Nemesis {
  readonly events: string[] = [];
  private stopping = false;
  private running: Promise<void> | undefined;
  private readonly t0 = Date.now();

  constructor(private readonly options: NemesisOptions) {}

  start(): void {
    this.running = this.loop();
  }

  /** Finishes the current fault, undoes everything (heal, resume, restart) and waits for a leader. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    const { cluster } = this.options;
    cluster.network.heal();
    for (let i = 0; i < cluster.size; i++) {
      if (cluster.members[i]?.paused) cluster.resume(i);
      if (cluster.members[i]?.running === false) await cluster.restart(i, { wait: false });
    }
    this.note('healed all, resumed and restarted every member');
    await cluster.waitReady();
  }

  private note(line: string): void {
    const entry = `+${((Date.now() - this.t0) / 1000).toFixed(1)}s ${line}`;
    this.events.push(entry);
    this.options.log?.(entry);
  }

  private async loop(): Promise<void> {
    const { random } = this.options;
    const faults = this.options.faults ?? allFaults;
    const [quietMin, quietMax] = this.options.quietMs ?? [500, 1500];
    for (let turn = 0; !this.stopping; turn++) {
      await delay(random.int(quietMin, quietMax));
      if (this.stopping) break;
      const kind = faults[this.options.inTurn === true ? turn % faults.length : random.int(0, faults.length - 1)] as FaultKind;
      try {
        await this.inject(kind);
      } catch (error) {
        // A fault that cannot be applied (no leader known right now) is skipped, not fatal.
        this.note(`${kind} skipped: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  private hold(minMs?: number): Promise<void> {
    const [holdMin, holdMax] = this.options.holdMs ?? [1_000, 3_000];
    const low = Math.max(holdMin, minMs ?? 0);
    return delay(this.options.random.int(low, Math.max(low, holdMax)));
  }

  private async leaderOrRandom(): Promise<number> {
    const { cluster, random } = this.options;
    return (await cluster.currentLeader()) ?? random.int(0, cluster.size - 1);
  }

  private async inject(kind: FaultKind): Promise<void> {
    const { cluster, random } = this.options;
    const n = cluster.size;
    const name = (i: number): string => cluster.names[i] as string;
    const mode = (): FaultMode => (random.chance(0.5) ? 'drop' : 'blackhole');
    switch (kind) {
      case 'kill-minority': {
        const count = random.int(1, Math.floor((n - 1) / 2));
        const victims = shuffle(random, [...Array(n).keys()]).slice(0, count);
        for (const v of victims) await cluster.kill(v);
        this.note(`SIGKILL ${victims.map(name).join(',')}`);
        await this.hold();
        for (const v of victims) await cluster.restart(v, { wait: false });
        this.note(`restarted ${victims.map(name).join(',')}`);
        return;
      }
      case 'kill-leader': {
        const leader = await this.leaderOrRandom();
        await cluster.kill(leader);
        this.note(`SIGKILL leader ${name(leader)}`);
        await this.hold();
        await cluster.restart(leader, { wait: false });
        this.note(`restarted ${name(leader)}`);
        return;
      }
      case 'pause-leader': {
        const leader = await this.leaderOrRandom();
        cluster.pause(leader);
        this.note(`SIGSTOP leader ${name(leader)}`);
        await this.hold(2 * cluster.backend.electionTimeoutMs + 500);
        cluster.resume(leader);
        this.note(`SIGCONT ${name(leader)}`);
        return;
      }
      case 'cut-one-way': {
        const [a, b] = shuffle(random, [...Array(n).keys()]) as [number, number];
        const m = mode();
        cluster.network.cut(a, b, m);
        this.note(`cut ${name(a)}→${name(b)} (${m})`);
        await this.hold();
        cluster.network.heal();
        this.note('healed');
        return;
      }
      case 'cut-both': {
        const [a, b] = shuffle(random, [...Array(n).keys()]) as [number, number];
        const m = mode();
        cluster.network.cutBoth(a, b, m);
        this.note(`cut ${name(a)}↔${name(b)} (${m})`);
        await this.hold();
        cluster.network.heal();
        this.note('healed');
        return;
      }
      case 'kill-during-dek-rotation':
      case 'kill-during-wal-reseal':
        return this.killDuringRotation(kind === 'kill-during-wal-reseal');
      case 'kill-during-snapshot-install':
        return this.killDuringInstall();
      case 'isolate-leader': {
        const leader = await this.leaderOrRandom();
        const m = mode();
        cluster.network.isolate(leader, m);
        this.note(`isolated leader ${name(leader)} (${m})`);
        await this.hold(cluster.backend.electionTimeoutMs + 500);
        cluster.network.heal();
        this.note('healed');
        return;
      }
    }
  }

  private keysClient(i: number): K8sClient {
    const { cluster } = this.options;
    return new K8sClient({ endpoints: [cluster.clientUrl(i)], tls: cluster.clientTls(), requestTimeoutMs: 10_000 });
  }

  private async killNoting(i: number, during: string): Promise<void> {
    const { cluster } = this.options;
    await cluster.kill(i);
    this.note(`SIGKILL ${cluster.names[i]} during ${during} (data dir: ${dataDirState(cluster.dataDir(i))})`);
  }

  /** rotate-dek on a member, then SIGKILL it inside the re-encryption pass, or just after it (the WAL re-seal). */
  private async killDuringRotation(afterPass: boolean): Promise<void> {
    const { cluster, random } = this.options;
    const i = random.int(0, cluster.size - 1);
    // An earlier fault may have restarted it without waiting: its rotation needs it serving.
    await cluster.waitMemberReady(i);
    const keys = this.keysClient(i);
    try {
      await keys.rotateDek();
      if (afterPass) {
        const deadline = Date.now() + 30_000;
        while ((await keys.memberKeys()).reencryption.running && Date.now() < deadline) await delay(5);
        await delay(random.int(0, 20));
      } else {
        await delay(random.int(0, 150));
      }
    } finally {
      keys.close();
    }
    await this.killNoting(i, afterPass ? 'the WAL re-seal after a DEK rotation' : 'a DEK rotation');
    await this.hold();
    await cluster.restart(i, { wait: false });
    this.note(`restarted ${cluster.names[i]}`);
  }

  /** A follower killed until the leader compacted past it, restarted, and killed again while it installs the snapshot. */
  private async killDuringInstall(): Promise<void> {
    const { cluster, random } = this.options;
    const leader = await cluster.currentLeader();
    const followers = [...Array(cluster.size).keys()].filter((i) => i !== leader);
    const i = followers[random.int(0, followers.length - 1)]!;
    await cluster.kill(i);
    this.note(`SIGKILL ${cluster.names[i]} (to fall behind the leader's compaction)`);
    await this.hold(3_000);
    await cluster.restart(i, { wait: false });
    const incoming = join(cluster.dataDir(i), 'mvcc.incoming');
    // A member takes seconds to start (and longer on a busy machine); then the install is quick.
    const deadline = Date.now() + 30_000;
    while (!existsSync(incoming) && Date.now() < deadline) await delay(1);
    await delay(random.int(0, 10));
    await this.killNoting(i, 'a snapshot install');
    await this.hold();
    await cluster.restart(i, { wait: false });
    this.note(`restarted ${cluster.names[i]}`);
  }
}

/** What a member's data dir shows: an unfinished rotation, an import or swap, re-seal temporaries. */
export function dataDirState(dataDir: string): string {
  const notes: string[] = [];
  try {
    const outer = JSON.parse(readFileSync(join(dataDir, 'keyring.json'), 'utf8')) as { body: string };
    const deks = (JSON.parse(outer.body) as { deks: unknown[] }).deks.length;
    if (deks > 1) notes.push(`${deks} DEKs`);
  } catch {
    notes.push('keyring unreadable');
  }
  for (const dir of ['mvcc.incoming', 'mvcc.old']) if (existsSync(join(dataDir, dir))) notes.push(dir);
  const temporaries = existsSync(join(dataDir, 'wal')) ? readdirSync(join(dataDir, 'wal')).filter((n) => n.endsWith('.tmp')).length : 0;
  if (temporaries > 0) notes.push(`${temporaries} WAL temporaries`);
  return notes.length === 0 ? 'nothing unfinished' : notes.join(', ');
}

function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}
