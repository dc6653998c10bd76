/** Named event counters of one run (faults injected, messages lost, snapshots sent…), summed by a sweep. */
export class Counters {
  readonly values = new Map<string, number>();

  add(name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by);
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  addAll(other: Counters): void {
    for (const [k, v] of other.values) this.add(k, v);
  }

  format(): string {
    return [...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(' ');
  }
}
