import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { MemberMetrics, type MemberState } from '../../../src/metrics/index.ts';

const state: MemberState = {
  term: 7, hasLeader: true, commitIndex: 120, appliedIndex: 117, watchers: 3, sealed: false,
  certificateExpirySeconds: { member: 86_400 * 300, ca: 86_400 * 3000 }, pagesPerDek: { '1': 40, '2': 12 },
  audit: { refusing: true, retentionAtRisk: false, retainedBytes: 4096 }, failStopped: true, removed: false,
};

function rendered(): Promise<string> {
  const metrics = new MemberMetrics(() => state);
  metrics.leaderChanged();
  metrics.proposal('committed');
  metrics.proposal('committed');
  metrics.proposal('failed');
  metrics.walFsyncSeconds(0.003);
  metrics.backendCommitSeconds(0.001);
  metrics.request('get', 'secrets', 200, 0.004);
  metrics.request('create', 'secrets', 403, 0.002);
  metrics.audit('written');
  metrics.auditSinkFailed();
  metrics.auditYoungFilesDropped(2);
  return metrics.render();
}

test('metrics carry events as counted and state as read at scrape time', async () => {
  const text = await rendered();
  for (const line of [
    'coffer_raft_term 7',
    'coffer_raft_has_leader 1',
    'coffer_raft_apply_lag_entries 3',
    'coffer_raft_leader_changes_total 1',
    'coffer_raft_proposals_total{outcome="committed"} 2',
    'coffer_raft_proposals_total{outcome="failed"} 1',
    'coffer_wal_fsync_duration_seconds_count 1',
    'coffer_backend_commit_duration_seconds_count 1',
    'coffer_requests_total{verb="create",resource="secrets",code="403"} 1',
    'coffer_watchers 3',
    'coffer_sealed 0',
    'coffer_certificate_expiry_seconds{kind="member"} 25920000',
    'coffer_pages_per_dek{dek="2"} 12',
    'coffer_audit_events_total{outcome="written"} 1',
    'coffer_audit_sink_failures_total 1',
    'coffer_audit_young_files_dropped_total 2',
    'coffer_audit_refusing 1',
    'coffer_audit_retention_at_risk 0',
    'coffer_audit_retained_bytes 4096',
    'coffer_fail_stopped 1',
    'coffer_member_removed 0',
  ]) {
    assert.ok(text.split('\n').includes(line), `missing line: ${line}`);
  }
});

test('promtool check metrics accepts the exposition', async () => {
  if (spawnSync('promtool', ['--version']).error) {
    // Debian's prometheus package carries promtool (.ci/run installs it); install it here when root.
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'prometheus'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  const result = spawnSync('promtool', ['check', 'metrics'], { input: await rendered(), encoding: 'utf8' });
  assert.equal(result.error, undefined, 'promtool is installed');
  assert.equal(result.status, 0, `promtool found problems:\n${result.stdout}${result.stderr}`);
});
