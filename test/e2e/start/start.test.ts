// `npm start` on a fresh checkout: it bootstraps a CA, starts the member, prints commands that work as
// printed; Ctrl-C stops it; a second start reuses the CA, the key and the data.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);
const dirs: string[] = [];
/** Every npm start a test began: one a failed test left running is killed with its member (its process group). */
const children: ChildProcess[] = [];

after(async () => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A checkout-shaped folder: the code and packages of this one, and no certs/ or data/ yet. */
async function freshCheckout(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-start-'));
  dirs.push(dir);
  for (const entry of ['node_modules', 'src', 'scripts', 'policies', 'package.json']) await symlink(join(repo, entry), join(dir, entry));
  return dir;
}

interface Started { child: ChildProcess; output: () => string }

async function start(cwd: string): Promise<Started> {
  // Its own process group, as a terminal gives it: Ctrl-C reaches the script and the member together.
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const exited = once(child, 'exit');
  while (!output.includes('serving clients')) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`npm start exited: ${output}`);
    await Promise.race([once(child.stdout, 'data'), exited]);
  }
  return { child, output: () => output };
}

async function ctrlC(started: Started): Promise<number | null> {
  process.kill(-started.child.pid!, 'SIGINT');
  const [code] = await once(started.child, 'exit') as [number | null];
  return code;
}

/** The example commands the banner prints, in order. */
function examples(output: string): string[] {
  return output.split('\n').filter((line) => line.startsWith('  curl ')).map((line) => line.trim());
}

/**
 * Runs a printed command as a user would paste it, retrying while the member is not ready yet: it has
 * no leader, or /readyz names a check still failing (the audit log opens after the election).
 */
async function paste(cwd: string, command: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const { stdout } = await run('sh', ['-c', command], { cwd });
    if (!stdout.includes('no leader') && stdout.trim() !== '' && !stdout.includes('not ready') && !stdout.includes('readyz check failed')) return stdout;
    assert.ok(attempt < 200, `no answer to: ${command}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('npm start: printed commands work, Ctrl-C stops it, and a second start keeps the data', async () => {
  const cwd = await freshCheckout();
  const first = await start(cwd);
  assert.match(first.output(), /DEVELOPMENT SET-UP/);
  assert.doesNotMatch(first.output(), /FSTDEP|DeprecationWarning|FastifyDeprecation/, 'the member starts without a deprecation warning');
  const [ready, put, range] = examples(first.output());
  assert.ok(ready && put && range, `three example commands: ${first.output()}`);
  assert.equal((await paste(cwd, ready)).trim(), 'ok');
  assert.match(await paste(cwd, put), /"revision"/);
  assert.equal(await ctrlC(first), 0, `clean stop: ${first.output()}`);
  assert.equal(((await stat(join(cwd, 'certs/dev-unseal.key'))).mode & 0o777), 0o600);

  const second = await start(cwd);
  assert.doesNotMatch(second.output(), /created a CA/, 'the CA is reused');
  // As the first start: the printed readiness check first (until the member has opened its audit log
  // it refuses requests with 503, and /readyz says so), then the read.
  assert.equal((await paste(cwd, ready)).trim(), 'ok');
  assert.match(await paste(cwd, range), /"value":"d29ybGQ="/);
  assert.equal(await ctrlC(second), 0);
});

/** Waits until the output of `started` matches `pattern`, or fails if it exits first. */
async function waitFor(started: Started, pattern: RegExp): Promise<void> {
  while (!pattern.test(started.output())) {
    if (started.child.exitCode !== null || started.child.signalCode !== null) throw new Error(`npm start exited before ${pattern}: ${started.output()}`);
    await Promise.race([once(started.child.stdout!, 'data'), once(started.child.stderr!, 'data'), once(started.child, 'exit')]);
  }
}

test('a second npm start is refused in one line naming the port and its holder; a member that dies is said in one line', async () => {
  const cwd = await freshCheckout();
  const first = await start(cwd);
  await waitFor(first, /^default: ready on https:\/\/127\.0\.0\.1:7443$/m);

  // The second start finds the port taken before it starts anything: it never says ready.
  const second = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(second);
  let output = '';
  second.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  second.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const [code] = await once(second, 'exit') as [number | null];
  assert.equal(code, 1, output);
  assert.equal(output.trim().split('\n').length, 1, `one line: ${output}`);
  const refused = /^start: port 7443 \(the client port\) is in use by pid (\d+) \(.*src\/server\/coffer\.ts server --name default .*\); stop it first/.exec(output);
  assert.ok(refused, output);
  assert.doesNotMatch(output, /ready/);

  // The holder is the first start's member: when it dies, npm start says so and exits 1.
  process.kill(Number(refused[1]), 'SIGKILL');
  const [exit] = await once(first.child, 'exit') as [number | null];
  assert.equal(exit, 1);
  assert.match(first.output(), /^start: member default was stopped by SIGKILL$/m);
});
