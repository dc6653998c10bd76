/**
 * The store quota (etcd's `--quota-backend-bytes`): every quotaCheckIntervalMs the member measures what
 * its store holds (the pages' bytes: LevelDB's files keep deleted records until its own compactions
 * reach them, which a store refusing writes may never trigger), and past the quota it raises its NOSPACE alarm through Raft (replication/alarms.ts),
 * after which every member refuses writes that add data. Clearing the alarm is the operator's, as with
 * etcd: compact, defragment, `etcdctl alarm disarm`; a store still past the quota raises it again at the
 * next check. A check overlaps no other; one that fails (the store dir mid-swap, no leader) waits for
 * the next.
 */
import { type Clock, type TimerHandle } from '../base/index.ts';
import { quotaCheckIntervalMs } from '../config/index.ts';
import type { Replica } from '../replication/index.ts';
import type { Logger } from './member-log.ts';

export interface QuotaWatchOptions {
  replica: Replica;
  quotaBytes: number;
  /** The bytes the member's store holds (MvccStore.pageBytes). */
  storeBytes: () => number;
  clock: Clock;
  log: Pick<Logger, 'warn'>;
}

/** Starts the watch; the returned function stops it. */
export function startQuotaWatch(options: QuotaWatchOptions): () => void {
  const { replica, quotaBytes, storeBytes, clock, log } = options;
  let timer: TimerHandle | undefined;
  let stopped = false;
  const check = async (): Promise<void> => {
    const self = replica.status().memberId;
    if (replica.alarmList().some((a) => a.memberId === self && a.alarm === 'NOSPACE')) return;
    const bytes = storeBytes();
    if (bytes <= quotaBytes) return;
    log.warn({ storeBytes: bytes, quotaBytes }, 'the store is past its quota: raising the NOSPACE alarm (writes that add data are refused until it is disarmed)');
    await replica.changeAlarm({ action: 'activate', memberId: self, alarm: 'NOSPACE' });
  };
  const next = () => {
    timer = undefined;
    if (stopped || !replica.isServing()) return;
    void check().catch(() => undefined).finally(() => {
      if (!stopped) timer = clock.setTimer(quotaCheckIntervalMs, next);
    });
  };
  timer = clock.setTimer(quotaCheckIntervalMs, next);
  return () => {
    stopped = true;
    timer?.cancel();
  };
}
