// `npm run bench -- --start-coffer --op startup` as docs/performance.md runs it, with a tiny key count:
// it loads the keys, restarts the member (after SIGTERM, then after SIGKILL) and prints one JSON line
// with the start-up times and the restarted member's resident memory. Timings are measured, never asserted.
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { repoRoot } from '../../support/cluster/index.ts';

const benchTimeoutMs = 120_000;

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', ...args], { cwd: repoRoot, timeout: benchTimeoutMs },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr }));
  });
}

test('--op startup prints one line: the restarted member served a read of the loaded keys, with its memory', { timeout: benchTimeoutMs }, async () => {
  const run = await bench(['--start-coffer', '--op', 'startup', '--keys', '200', '--members', '1']);
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stdout.trim().split('\n');
  assert.equal(lines.length, 1, run.stdout);
  const result = JSON.parse(lines[0] as string) as Record<string, unknown> & { perMember: Record<string, unknown>[] };
  assert.deepEqual(
    { op: result.op, system: result.system, members: result.members, keys: result.keys, valueBytes: result.valueBytes },
    { op: 'startup', system: 'coffer', members: 1, keys: 200, valueBytes: 256 },
  );
  assert.equal(result.perMember.length, 1);
  const [member] = result.perMember;
  assert.equal(member?.name, 'm1');
  assert.equal(member?.stopExit, 0, 'SIGTERM stopped the member cleanly');
  for (const field of ['startupMs', 'startupAfterKillMs', 'rssMiB', 'rssAnonMiB', 'rssFileMiB', 'loadKeysPerSec']) {
    assert.ok(typeof result[field] === 'number' && result[field] > 0, `${field} is a positive number: ${String(result[field])}`);
  }
  assert.ok((result.rssAnonMiB as number) + (result.rssFileMiB as number) <= (result.rssMiB as number) + 1, 'anonymous and file-backed parts of VmRSS');
});

test('--op startup refuses to run beside another op or against given endpoints', async () => {
  const mixed = await bench(['--start-coffer', '--op', 'startup,put']);
  assert.notEqual(mixed.code, 0);
  assert.match(mixed.stderr, /--op startup runs alone and restarts the members/);
  const external = await bench(['--endpoints', 'https://127.0.0.1:1', '--op', 'startup']);
  assert.notEqual(external.code, 0);
  assert.match(external.stderr, /--op startup runs alone and restarts the members/);
});
