/**
 * The member's Prometheus metrics (prom-client). Events are counted as they happen through the hooks
 * below; state (term, lag, watchers, keys, certificates) is read at scrape time from a snapshot the
 * server provides, so no lower layer depends on this folder.
 * Invariant: no label ever carries a key name, a value or a user-supplied string other than the
 * verb, resource and status code of a request.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface MemberState {
  term: number;
  hasLeader: boolean;
  commitIndex: number;
  appliedIndex: number;
  watchers: number;
  /** 1 while the member holds no usable KEK (it then serves nothing). */
  sealed: boolean;
  /** Seconds until each certificate this member uses expires, by kind (member, ca). */
  certificateExpirySeconds: Record<string, number>;
  /** Pages sealed per DEK id. */
  pagesPerDek: Record<string, number>;
  /** True when the member's audit log was found broken (it then appends to a fresh segment). */
  auditBroken?: boolean;
  /** The member's audit log: refusing records, young history at risk, bytes kept. */
  audit?: { refusing: boolean; retentionAtRisk: boolean; retainedBytes: number; ageRetentionHeldBack?: boolean };
  /** True once the replica stopped on an error it cannot carry on from (fail-stop: WAL or store). */
  failStopped?: boolean;
  /** True once this member knows it was removed from the cluster. */
  removed?: boolean;
}

export class MemberMetrics {
  readonly registry = new Registry();
  private readonly leaderChanges: Counter;
  private readonly proposals: Counter<'outcome'>;
  private readonly walFsync: Histogram;
  private readonly backendCommit: Histogram;
  private readonly requests: Counter<'verb' | 'resource' | 'code'>;
  private readonly requestDuration: Histogram<'verb' | 'resource'>;
  private readonly auditEvents: Counter<'outcome'>;
  private readonly auditSinkFailures: Counter;
  private readonly auditYoungFiles: Counter;
  private readonly connectionsRefused: Counter<'listener' | 'reason'>;
  /** How many connections each guarded listener holds, read at scrape time. */
  private readonly listeners = new Map<string, () => number>();
  /** Where the gauges read the member's state at scrape time; nothing is read before it is set. */
  private state: (() => MemberState) | undefined;

  constructor(state?: () => MemberState) {
    this.state = state;
    const current = () => this.state?.();
    const registers = [this.registry];
    const diskBuckets = [0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024];
    this.leaderChanges = new Counter({ name: 'coffer_raft_leader_changes_total', help: 'Times this member saw the leader change.', registers });
    this.proposals = new Counter({ name: 'coffer_raft_proposals_total', help: 'Proposals made through this member, by outcome (committed, failed).', labelNames: ['outcome'], registers });
    this.walFsync = new Histogram({ name: 'coffer_wal_fsync_duration_seconds', help: 'Time to make a WAL group-commit batch durable (its synced write: data and size on stable storage, as after fdatasync).', buckets: diskBuckets, registers });
    this.backendCommit = new Histogram({ name: 'coffer_backend_commit_duration_seconds', help: 'Duration of MVCC batch commits to LevelDB.', buckets: diskBuckets, registers });
    this.requests = new Counter({ name: 'coffer_requests_total', help: 'Client API requests by verb, resource and status code.', labelNames: ['verb', 'resource', 'code'], registers });
    this.requestDuration = new Histogram({ name: 'coffer_request_duration_seconds', help: 'Client API request latency by verb and resource.', labelNames: ['verb', 'resource'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
    this.auditEvents = new Counter({
      name: 'coffer_audit_events_total', help: 'Audit records by outcome: written, or failed (refused; the request got 503). Requests the policy does not record count as neither.',
      labelNames: ['outcome'], registers,
    });
    this.auditSinkFailures = new Counter({ name: 'coffer_audit_sink_failures_total', help: 'Times the audit sink failed (disk full, I/O error) and records began to be refused.', registers });
    this.auditYoungFiles = new Counter({
      name: 'coffer_audit_young_files_dropped_total', help: 'Audit files holding records younger than the minimum retention that the size limit forced retention to delete.', registers,
    });
    this.connectionsRefused = new Counter({
      name: 'coffer_connections_refused_total',
      help: 'Connections a listener (client, peer) closed as it took them, by why: connections (it held its most), handshakes (its most unfinished TLS handshakes: the oldest closed), address-handshakes (the same from one address), certificate-connections (one certificate held its share), certificate (a client certificate that did not verify).',
      labelNames: ['listener', 'reason'], registers,
    });
    const listeners = this.listeners;
    new Gauge({
      name: 'coffer_connections_open', help: 'Connections each listener (client, peer) holds.', labelNames: ['listener'], registers,
      collect() {
        this.reset();
        for (const [listener, open] of listeners) this.set({ listener }, open());
      },
    });

    const gauge = (name: string, help: string, read: (s: MemberState) => number) => new Gauge({
      name, help, registers, collect() {
        const s = current();
        if (s !== undefined) this.set(read(s));
      },
    });
    gauge('coffer_raft_term', 'The current Raft term.', (s) => s.term);
    gauge('coffer_raft_has_leader', '1 if this member knows a leader.', (s) => (s.hasLeader ? 1 : 0));
    gauge('coffer_raft_apply_lag_entries', 'Committed entries not yet applied.', (s) => Math.max(0, s.commitIndex - s.appliedIndex));
    gauge('coffer_watchers', 'Open watches on this member.', (s) => s.watchers);
    gauge('coffer_sealed', '1 while the member is sealed.', (s) => (s.sealed ? 1 : 0));
    gauge('coffer_audit_broken', '1 when this member\'s audit log was found broken (coffer audit verify names the break).', (s) => (s.auditBroken === true ? 1 : 0));
    gauge('coffer_audit_refusing', '1 while this member refuses audit records (so every request the audit policy records answers 503); /readyz says why.',
      (s) => (s.audit?.refusing === true ? 1 : 0));
    gauge('coffer_audit_retention_at_risk', '1 while the next size-driven audit retention would delete records younger than the minimum retention.',
      (s) => (s.audit?.retentionAtRisk === true ? 1 : 0));
    gauge('coffer_audit_age_retention_held_back',
      '1 while audit retention by age keeps files this member\'s clock alone says are past the age limit: the clock runs ahead of the cluster\'s time (or that is unknown).',
      (s) => (s.audit?.ageRetentionHeldBack === true ? 1 : 0));
    gauge('coffer_audit_retained_bytes', 'Bytes of audit files this member keeps.', (s) => s.audit?.retainedBytes ?? 0);
    gauge('coffer_fail_stopped', '1 once the member stopped on a WAL or store failure it cannot carry on from; /livez says why.', (s) => (s.failStopped === true ? 1 : 0));
    gauge('coffer_member_removed', '1 once this member knows it was removed from the cluster.', (s) => (s.removed === true ? 1 : 0));
    new Gauge({
      name: 'coffer_certificate_expiry_seconds', help: 'Seconds until a certificate this member uses expires.', labelNames: ['kind'], registers,
      collect() {
        this.reset();
        for (const [kind, seconds] of Object.entries(current()?.certificateExpirySeconds ?? {})) this.set({ kind }, seconds);
      },
    });
    new Gauge({
      name: 'coffer_pages_per_dek', help: 'Pages sealed under each data encryption key.', labelNames: ['dek'], registers,
      collect() {
        this.reset();
        for (const [dek, pages] of Object.entries(current()?.pagesPerDek ?? {})) this.set({ dek }, pages);
      },
    });
  }

  /**
   * Where the gauges read the member's state from now on. A member's counters are fed from its first
   * stage, its state exists once its parts do (server/member.ts), before anything can scrape it.
   */
  readStateFrom(state: () => MemberState): void {
    this.state = state;
  }

  leaderChanged(): void {
    this.leaderChanges.inc();
  }

  proposal(outcome: 'committed' | 'failed'): void {
    this.proposals.inc({ outcome });
  }

  walFsyncSeconds(seconds: number): void {
    this.walFsync.observe(seconds);
  }

  backendCommitSeconds(seconds: number): void {
    this.backendCommit.observe(seconds);
  }

  request(verb: string, resource: string, code: number, seconds: number): void {
    this.requests.inc({ verb, resource, code: String(code) });
    this.requestDuration.observe({ verb, resource }, seconds);
  }

  audit(outcome: 'written' | 'failed'): void {
    this.auditEvents.inc({ outcome });
  }

  auditSinkFailed(): void {
    this.auditSinkFailures.inc();
  }

  auditYoungFilesDropped(files: number): void {
    this.auditYoungFiles.inc(files);
  }

  /** `open` says how many connections `listener` holds (coffer_connections_open). */
  connectionsOf(listener: string, open: () => number): void {
    this.listeners.set(listener, open);
  }

  connectionRefused(listener: string, reason: string): void {
    this.connectionsRefused.inc({ listener, reason });
  }

  contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
