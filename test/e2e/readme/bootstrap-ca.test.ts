// The README's `npm run bootstrap-ca …` commands, taken from README.md as printed (a README edit changes
// what runs here) and run verbatim, each in a fresh copy of the checkout — "on a fresh checkout", as the
// README says. The walk-through (readme.test.ts) cannot run them in its order: `npm start` and
// `npm run cluster` have made the CA by then, and bootstrap-ca refuses to replace one.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../support/cluster/index.ts';
import { copyCheckout, removeCheckout } from '../../support/sandbox/index.ts';

const runMs = 120_000;

/** The README's inline `npm run bootstrap-ca…` commands, as printed. */
async function bootstrapCommands(): Promise<string[]> {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  return [...new Set([...readme.matchAll(/`(npm run bootstrap-ca\b[^`]*)`/g)].map((m) => m[1] as string))];
}

/** Runs `command` in bash in `cwd` with umask 022 (a common one: the README says the directories are 0700 whatever it is). */
function sh(cwd: string, command: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', `umask 022; ${command}`], { cwd, timeout: runMs, env: { ...process.env, npm_config_update_notifier: 'false' } },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code ?? 1), output: stdout + stderr }));
  });
}

const dirs: string[] = [];
after(async () => { for (const dir of dirs) await removeCheckout(dir); });

test('every `npm run bootstrap-ca` the README prints works as printed on a fresh checkout, and refuses to replace the CA it made', { timeout: 4 * runMs }, async () => {
  const commands = await bootstrapCommands();
  assert.ok(commands.includes('npm run bootstrap-ca -- --members m1,m2,m3'), `the README's bootstrap-ca commands: ${JSON.stringify(commands)}`);
  for (const command of commands) {
    const dir = await copyCheckout({ nodeModules: 'link', prefix: 'coffer-readme-ca-' });
    dirs.push(dir);
    const first = await sh(dir, command);
    assert.equal(first.code, 0, `"${command}" failed (exit ${first.code}):\n${first.output}`);
    const members = /--members (\S+)/.exec(command)?.[1]?.split(',') ?? ['default'];
    // What the README says it makes: certs/members/<name>.{crt,key} and <name>.unseal.key (mode 0600), in 0700 directories.
    for (const name of members) {
      for (const file of [`${name}.crt`, `${name}.key`]) await stat(join(dir, 'certs/members', file));
      assert.equal((await stat(join(dir, 'certs/members', `${name}.unseal.key`))).mode & 0o777, 0o600, `${name}.unseal.key is 0600`);
      assert.equal((await stat(join(dir, 'certs/members', `${name}.unseal.key`))).size, 32, `${name}.unseal.key holds 32 bytes`);
    }
    // certs/ is in the checkout (its README); the directories bootstrap-ca creates in it are 0700.
    for (const sub of ['certs/members', 'certs/clients']) assert.equal((await stat(join(dir, sub))).mode & 0o777, 0o700, `${sub} is 0700`);
    const caBefore = await readFile(join(dir, 'certs/ca.crt'));
    const again = await sh(dir, command);
    assert.notEqual(again.code, 0, `"${command}" run again should refuse to replace the CA:\n${again.output}`);
    assert.match(again.output, /ca\.crt already exists/);
    assert.deepEqual(await readFile(join(dir, 'certs/ca.crt')), caBefore, 'the CA is unchanged');
  }
});
