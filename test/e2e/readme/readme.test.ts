// Every command the README prints, run verbatim, in order, in a fresh copy of the checkout — as a new
// user would, from `npm install` on. The README's ```sh blocks are the commands; ```text blocks are
// syntax and sample output, not run.
//
// Ports: the README's commands use the fixed ports a user sees (7443, 7444, 7453…), so the session has a
// network of its own (test/support/sandbox: a fresh loopback in a Linux network namespace) and cannot
// meet another test's members or a developer's `npm start`. The commands stay exactly as printed; nothing
// is rewritten.
//
// What the session needs to know that a person reads in the prose:
// - commands that run until Ctrl-C (npm start, npm run cluster, coffer server) run as background jobs
//   and are ready at the line each prints; starting one stops those running, as their ports collide;
// - a comment line in a block that says "Ctrl-C" stops what is running, as the reader is told to;
// - everything still running is stopped at the end, and each must stop cleanly.
// `npm install` runs with npm's offline setting: the copy holds this checkout's node_modules, so it
// installs nothing and runs the package's prepare step (the build bin/coffer runs).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../support/cluster/index.ts';
import { copyCheckout, IsolatedShell, type Job, removeCheckout } from '../../support/sandbox/index.ts';

interface Step {
  /** A command as printed (continuation lines joined by the shell itself), or a stop. */
  command?: string;
  stop?: string;
}

/** Commands that run until Ctrl-C, and the line that says each is ready. */
const longRunning: readonly [RegExp, RegExp][] = [
  [/^npm start\b/, /^default: ready/m],
  [/^npm run cluster\b/, /^cluster: ready/m],
  [/^coffer server\b/, /serving clients/],
];

const commandMs = 240_000;
const startMs = 240_000;
const stopMs = 60_000;

/** The ```sh blocks of the README as steps, in order. */
function stepsOf(readme: string): Step[] {
  const steps: Step[] = [];
  for (const block of readme.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    const lines = (block[1] ?? '').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] ?? '';
      if (line.trim() === '') continue;
      if (line.trimStart().startsWith('#')) {
        if (line.includes('Ctrl-C')) steps.push({ stop: line.trim() });
        continue;
      }
      let command = line;
      while (command.endsWith('\\') && i + 1 < lines.length) command += `\n${lines[++i] ?? ''}`;
      steps.push({ command });
    }
  }
  return steps;
}

/** The sample transcript lines (`$ command`) of ```text blocks: each must be what a real run printed. */
function transcriptCommands(readme: string): string[] {
  return [...readme.matchAll(/^```text\n([\s\S]*?)^```$/gm)].flatMap((block) => (block[1] ?? '').split('\n').filter((l) => l.startsWith('$ ')));
}

let dir: string;
let shell: IsolatedShell;

before(async () => {
  dir = await copyCheckout({ nodeModules: 'copy', prefix: 'coffer-readme-' });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, HOME: join(dir, '.home'), LANG: 'C.UTF-8', TMPDIR: process.env.TMPDIR ?? '/tmp',
    npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false',
  };
  shell = await IsolatedShell.open(dir, env);
});

after(async () => {
  await shell?.close();
  if (dir !== undefined) await removeCheckout(dir);
});

test('every command the README prints works verbatim on a fresh checkout', { timeout: 30 * 60_000 }, async () => {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const steps = stepsOf(readme);
  assert.ok(steps.length > 30, `the README's commands: ${steps.length}`);
  let running: Job[] = [];
  const printed: string[] = [];
  const stopAll = async (why: string) => {
    for (const job of running.reverse()) {
      const { code, output } = await shell.interrupt(job, stopMs);
      // npm reports Ctrl-C as 128 + SIGINT whatever its script did; coffer itself exits 0.
      const clean = job.command.startsWith('npm ') ? [0, 130] : [0];
      assert.ok(clean.includes(code), `${why}: "${job.command}" did not stop cleanly (exit ${code}):\n${output}`);
      printed.push(output);
    }
    running = [];
    const left = await shell.run('pgrep -af "src/server/coffer" || true', 10_000);
    assert.equal(left.output.trim(), '', `${why}: members left running`);
  };
  for (const step of steps) {
    if (step.stop !== undefined) {
      await stopAll(step.stop);
      continue;
    }
    const command = step.command as string;
    const ready = longRunning.find(([pattern]) => pattern.test(command))?.[1];
    if (ready !== undefined) {
      await stopAll(`before "${command}"`);
      running.push(await shell.start(command, ready, startMs));
      continue;
    }
    const { code, output } = await shell.run(command, commandMs);
    assert.equal(code, 0, `"${command}" failed (exit ${code}):\n${output}`);
    printed.push(output);
  }
  await stopAll('at the end of the README');

  const all = printed.join('\n');
  for (const line of transcriptCommands(readme)) assert.ok(all.includes(line), `the README's sample output "${line}" is not what the run printed`);
});
