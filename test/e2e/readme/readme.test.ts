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
//   and are ready at the line each prints — npm start once its own member has said it serves clients and
//   then "default: ready", and it is still running; starting one stops those running, as their ports collide,
//   except a member that joins a running cluster (coffer server --join), which runs beside them;
// - a refusal the README says to ask again after — a member add right after the cluster's first start,
//   a promotion of a learner that has not caught up yet — is asked again, for a while;
// - a comment line in a block that says "Ctrl-C" stops what is running, as the reader is told to;
// - everything still running is stopped at the end, and each must stop cleanly.
// `npm install` runs with npm's offline setting: the copy holds this checkout's node_modules, so it
// installs nothing and runs the package's prepare step (the build bin/coffer runs).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { delay, repoRoot } from '../../support/cluster/index.ts';
import { copyCheckout, IsolatedShell, type Job, removeCheckout } from '../../support/sandbox/index.ts';

interface Step {
  /** A command as printed (continuation lines joined by the shell itself), or a stop. */
  command?: string;
  stop?: string;
}

/**
 * Commands that run until Ctrl-C, and what says each is ready: for npm start, its member's own serving
 * line (which names it) before "default: ready", so another member answering on the port cannot pass for it.
 */
const longRunning: readonly [RegExp, RegExp][] = [
  [/^npm start\b/, /^coffer: member default \(id \d+, cluster [^)]+\) serving clients on https:\/\/127\.0\.0\.1:7443\/? [\s\S]*^default: ready on /m],
  [/^npm run cluster\b/, /^cluster: ready/m],
  [/^coffer server\b/, /serving clients/],
];

/** A member joining the running cluster: started beside what runs (another terminal), not instead of it. */
const joinsRunning = /^coffer server\b[^\n]*\s--join\b/;

/** Refusals the README says to ask again after ("ask again", "once it has caught up"), and for how long. */
const askAgain: readonly [RegExp, RegExp][] = [
  [/^coffer member add\b/, /re-configuration failed due to not enough started members/],
  [/^coffer member promote\b/, /can only promote a learner member which is in sync with leader/],
];
const askAgainMs = 30_000;
const askAgainPauseMs = 500;

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

/**
 * The sample transcripts of ```text blocks (those holding `$ command` lines), each as its lines. Every
 * line must be what the real run printed, in order: a `$ ` line is the command a script says it runs (it
 * prints those itself), the others are what the commands and the script printed — the outcomes.
 */
function transcripts(readme: string): string[][] {
  return [...readme.matchAll(/^```text\n([\s\S]*?)^```$/gm)].map((block) => (block[1] ?? '').split('\n').filter((l) => l !== ''))
    .filter((lines) => lines.some((l) => l.startsWith('$ ')));
}

/**
 * A transcript line as a pattern for one printed line: counts differ from run to run, so a number other
 * than 0 matches any number; a 0 (no failure, no refusal) must be 0.
 */
function linePattern(line: string): RegExp {
  const escaped = line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\b[1-9]\d*\b/g, '\\d+');
  return new RegExp(`^${escaped}$`, 'gm');
}

/** The transcript's lines found in `printed` in its order: undefined, or the first line not found after the previous. */
function missingLine(printed: string, transcript: readonly string[]): string | undefined {
  let from = 0;
  for (const line of transcript) {
    const pattern = linePattern(line);
    pattern.lastIndex = from;
    const found = pattern.exec(printed);
    if (found === null) return line;
    from = found.index + found[0].length;
  }
  return undefined;
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
      if (!joinsRunning.test(command)) await stopAll(`before "${command}"`);
      const job = await shell.start(command, ready, startMs);
      assert.equal((await shell.run(`kill -0 ${job.pid}`, 10_000)).code, 0, `"${command}" still runs once it said it is ready`);
      running.push(job);
      continue;
    }
    const refusal = askAgain.find(([pattern]) => pattern.test(command))?.[1];
    const deadline = Date.now() + askAgainMs;
    let { code, output } = await shell.run(command, commandMs);
    while (code !== 0 && refusal?.test(output) === true && Date.now() < deadline) {
      await delay(askAgainPauseMs);
      ({ code, output } = await shell.run(command, commandMs));
    }
    assert.equal(code, 0, `"${command}" failed (exit ${code}):\n${output}`);
    printed.push(output);
  }
  await stopAll('at the end of the README');

  const all = printed.join('\n');
  const samples = transcripts(readme);
  assert.ok(samples.length > 0, 'the README shows a transcript');
  for (const transcript of samples) {
    const missing = missingLine(all, transcript);
    assert.equal(missing, undefined, `the README's sample output line "${missing}" is not what the run printed (in its order):\n${all.slice(-4000)}`);
  }
  // The rotation demo's outcome: the app made requests (through a restart) and not one failed or was refused.
  const demo = /^rotation-demo: the app sent (\d+) requests: (\d+) failed; the database refused (\d+)$/m.exec(all);
  assert.ok(demo, 'npm run demo printed its totals');
  assert.ok(Number(demo[1]) > 0 && demo[2] === '0' && demo[3] === '0', demo[0]);
  assert.ok([...all.matchAll(/^app: stopped after \d+ requests, 0 failed$/gm)].length >= 2, 'the app ran twice (restarted on the promotion), without a failed request');
});
