// Full disks, for real: a member's audit directory, or its WAL directory, on a small tmpfs filled
// with a file.
// - The audit disk: requests are refused (fail closed); /readyz fails with the reason while /livez
//   stays up; the coffer_audit_refusing gauge is 1; the log says so once; `coffer status` names the
//   problem and exits 1. Once the file is removed the member serves again without a restart, and
//   `coffer audit verify` explains the gap instead of calling it tampering.
// - The WAL disk: the member fail-stops (it never carries on with state it cannot trust) and says so
//   on /livez, in status, in a metric and in its log, then exits 70 after its grace period.
//
// Mounting a tmpfs needs root (the CI runs as root, as it installs packages with apt-get).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, rename, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Cluster, runCoffer } from '../../support/cluster/index.ts';
import { waitUntil } from '../../support/wait.ts';

const tmpfsBytes = 1024 * 1024;

/**
 * Runs `body` on a one-member cluster whose data subdirectory `sub` (audit, wal) sits on a small tmpfs,
 * moved there while the member was stopped; always stops the cluster, unmounts and cleans up.
 */
async function withSubdirOnTmpfs(sub: string, memberArgs: string[], body: (cluster: Cluster, dir: string) => Promise<void>): Promise<void> {
  assert.equal(process.getuid?.(), 0, 'this test mounts a tmpfs and must run as root (as the CI does)');
  const cluster = await Cluster.start({ size: 1, backend: 'coffer', memberArgs });
  const dir = join(cluster.dir, 'data', 'm1', sub);
  let mounted = false;
  try {
    await cluster.members[0]!.stop();
    await rename(dir, `${dir}.disk`);
    await mkdir(dir, { mode: 0o700 });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsBytes},mode=0700`, 'tmpfs', dir]);
    mounted = true;
    await cp(`${dir}.disk`, dir, { recursive: true });
    await rm(`${dir}.disk`, { recursive: true });
    await cluster.restart(0);
    await until('the member is ready', async () => ((await cluster.get(0, '/readyz')).status === 200 ? true : undefined));
    await body(cluster, dir);
  } finally {
    await cluster.stop(true);
    if (mounted) execFileSync('umount', [dir]);
    await rm(cluster.dir, { recursive: true, force: true });
  }
}

/** Fills the file system holding `dir` with one file; returns its path. */
async function fill(dir: string): Promise<string> {
  const filler = join(dir, 'filler');
  const fs = await statfs(dir);
  await writeFile(filler, Buffer.alloc(Number(fs.bavail) * Number(fs.bsize))).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOSPC') throw error;
  });
  return filler;
}

function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<Exclude<T, undefined | false>> {
  return waitUntil(probe, timeoutMs, what);
}

test('a full audit disk: refused and reported while full, serving again on its own once space is free, the gap explained', async () => {
  await withSubdirOnTmpfs('audit', [], async (cluster, auditDir) => {
    const filler = await fill(auditDir);
    // Records still fit in the last page of the open file for a while; then the sink fails.
    const refused = await until('a request is refused', async () => {
      const answer = await cluster.get(0, '/api/v1/namespaces/default');
      return answer.status === 503 ? answer : undefined;
    });
    assert.match(refused.body, /the audit log cannot record this request; nothing was changed/);

    const readyz = await cluster.get(0, '/readyz');
    assert.equal(readyz.status, 503);
    assert.match(readyz.body, /^\[-\]audit failed: audit record could not be made durable \(ENOSPC\).*$/m);
    assert.equal((await cluster.get(0, '/livez')).status, 200, 'the process is fine: /livez stays up');
    const metrics = await cluster.get(0, '/metrics');
    assert.match(metrics.body, /^coffer_audit_refusing 1$/m);
    assert.match(metrics.body, /^coffer_audit_sink_failures_total 1$/m);
    const status = await runCoffer(cluster, 'status');
    assert.equal(status.code, 1);
    assert.match(status.stderr, /coffer: problem: member m1: audit: records are refused: audit record could not be made durable \(ENOSPC\)/);
    const failedLines = (await readFile(cluster.members[0]!.logFile, 'utf8')).split('\n').filter((l) => l.includes('the audit sink failed'));
    assert.equal(failedLines.length, 1, 'one log line at the transition, not one per refused request or retry');

    await rm(filler);
    await until('the member is ready again', async () => ((await cluster.get(0, '/readyz')).status === 200 ? true : undefined));
    assert.equal((await cluster.get(0, '/api/v1/namespaces/default')).status, 200, 'serving again without a restart');
    assert.match((await cluster.get(0, '/metrics')).body, /^coffer_audit_refusing 0$/m);
    const log = await readFile(cluster.members[0]!.logFile, 'utf8');
    assert.match(log, /the audit sink takes records again; the outage is recorded and signed in the audit chain/);
    assert.equal((await runCoffer(cluster, 'status')).code, 0);

    const verify = await runCoffer(cluster, 'audit', 'verify');
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /^m1: ok — /m);
    assert.match(verify.stdout, /note: the audit sink failed at \S+ \(ENOSPC[^)]*\) and took records again at \S+: \d+ record\(s\) refused meanwhile .*not tampering/);
  });
});

test('a full WAL disk: the member fail-stops and says so on /livez, in status, in a metric and its log, then exits 70', async () => {
  // Long enough for the checks below to run before the process exits, even on a loaded machine.
  const graceSeconds = 30;
  await withSubdirOnTmpfs('wal', ['--exit-grace', `${graceSeconds}s`], async (cluster, walDir) => {
    await fill(walDir);
    const kv = cluster.client(0, { requestTimeoutMs: 2_000 });
    // Writes need the WAL: one of them meets the full disk, and the member stops rather than carry on.
    const livez = await until('the member fail-stops', async () => {
      await kv.put(new TextEncoder().encode('k'), new Uint8Array(4096)).catch(() => undefined);
      const answer = await cluster.get(0, '/livez');
      return answer.status === 503 ? answer : undefined;
    });
    assert.match(livez.body, new RegExp(`^\\[-\\]replica failed: the member stopped \\(fail-stop\\): .*ENOSPC.*; the process exits in ${graceSeconds} s$`, 'm'));
    assert.match((await cluster.get(0, '/metrics')).body, /^coffer_fail_stopped 1$/m);
    const status = await runCoffer(cluster, 'status');
    assert.equal(status.code, 1);
    assert.match(status.stderr, /coffer: problem: member m1: the member stopped \(fail-stop\): .*ENOSPC/);
    assert.match(status.stdout, /\sm1\s.*\snone\s/, 'a stopped member names no leader');
    assert.equal(await cluster.members[0]!.exited, 70);
    const log = await readFile(cluster.members[0]!.logFile, 'utf8');
    assert.match(log, new RegExp(`"level":60.*the member stopped \\(fail-stop\\): its WAL or store could not be written or trusted; the process exits in ${graceSeconds} s with code 70`));
  });
});
