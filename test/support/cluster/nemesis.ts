/**
 * A seeded nemesis: one fault at a time, each held for a while and then undone, with quiet gaps
 * between. Faults: SIGKILL a minority and restart it; SIGKILL the leader and restart it; SIGSTOP the
 * leader for longer than the election timeout and SIGCONT it; cut one link in one direction or both
 * (drop or blackhole); isolate the leader. At most a minority is ever faulty, so the cluster can make
 * progress during every fault.
 *
 * The schedule comes from the seed; what the cluster does in response does not, so a seed replays the
 * same kinds and order of faults, not the same history.
 */
import type { Random } from '../../../src/base/index.ts';
import type { Cluster } from './cluster.ts';
import { delay } from './cluster.ts';
import type { FaultMode } from './network.ts';

export type FaultKind = 'kill-minority' | 'kill-leader' | 'pause-leader' | 'cut-one-way' | 'cut-both' | 'isolate-leader';

export const allFaults: readonly FaultKind[] = ['kill-minority', 'kill-leader', 'pause-leader', 'cut-one-way', 'cut-both', 'isolate-leader'];

export interface NemesisOptions {
  cluster: Cluster;
  random: Random;
  faults?: readonly FaultKind[];
  /** How long a fault is held: [min, max] ms; pauses always last beyond the election timeout. */
  holdMs?: [number, number];
  quietMs?: [number, number];
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
    while (!this.stopping) {
      await delay(random.int(quietMin, quietMax));
      if (this.stopping) break;
      const kind = faults[random.int(0, faults.length - 1)] as FaultKind;
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
}

function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}
