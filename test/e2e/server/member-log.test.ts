// The member's log as an operator reads it (docs/operations.md: "start, stop, leadership"): three real
// `coffer server` processes at the default level, their logs in files. Each log says which member leads
// (in `member started`, then a line at every change); a member stopped with SIGTERM logs the stop and
// its end, and the others log the new leader. No start prints a deprecation warning. A member started
// without --crl says that it accepts revoked certificates; one started with it says nothing of the kind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Cluster, withCluster } from '../../support/cluster/index.ts';
import { cofferBackend } from '../../support/cluster/backends.ts';
import { waitUntil } from '../../support/wait.ts';

let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ size: 3, faults: false });
});
after(async () => { await cluster?.stop(); });

interface Line { msg?: string; leader?: number; id?: number; reason?: string; exitCode?: number }

async function logOf(i: number): Promise<{ text: string; lines: Line[] }> {
  const text = await readFile(cluster.members[i]!.logFile, 'utf8');
  const lines = text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
  return { text, lines };
}

/** How the warning of a member started without --crl begins. */
const withoutCrl = 'started without --crl';

const leadership = new Set(['member started', 'leader changed', 'this member is the leader', 'no leader']);

/** The leader member i's log names last (in `member started` or a leadership line). */
async function leaderLogged(i: number): Promise<number | undefined> {
  return (await logOf(i)).lines.filter((l) => leadership.has(l.msg ?? '')).at(-1)?.leader;
}

async function idOf(i: number): Promise<number> {
  const started = (await logOf(i)).lines.find((l) => l.msg === 'member started');
  assert.ok(started?.id !== undefined, `m${i + 1} logged its start with its id`);
  return started.id;
}

test('every member logs who leads, a stop and its end, and the next leader; no deprecation warning', async () => {
  const leader = await cluster.leader();
  const leaderId = await idOf(leader);
  for (let i = 0; i < 3; i++) {
    await waitUntil(async () => (await leaderLogged(i)) === leaderId, 30_000, `m${i + 1}'s log to name the leader m${leader + 1}`);
    const { text } = await logOf(i);
    assert.doesNotMatch(text, /FSTDEP|DeprecationWarning|FastifyDeprecation/, `m${i + 1} started without a deprecation warning`);
    assert.doesNotMatch(text, new RegExp(withoutCrl), `m${i + 1}, started with --crl, does not warn of its absence`);
  }

  assert.equal(await cluster.stopMember(leader), 0, 'SIGTERM stops the leader cleanly');
  const stopped = (await logOf(leader)).lines;
  const stopping = stopped.findIndex((l) => l.msg === 'member stopping');
  const done = stopped.findIndex((l) => l.msg === 'member stopped');
  assert.ok(stopping >= 0 && done > stopping, `the stopped member logged "member stopping" then "member stopped": ${stopped.map((l) => l.msg).join(' | ')}`);
  assert.equal(stopped[stopping]!.reason, 'SIGTERM');
  assert.equal(stopped[done]!.exitCode, 0);

  const others = [0, 1, 2].filter((i) => i !== leader);
  await waitUntil(async () => {
    const named = await Promise.all(others.map((i) => leaderLogged(i)));
    return named[0] !== undefined && named[0] !== 0 && named[0] !== leaderId && named[0] === named[1];
  }, 30_000, 'the others to log a new leader');
  const newLeader = await cluster.leader();
  assert.equal(await leaderLogged(others[0]!), await idOf(newLeader), 'the leader they logged is the one that leads');
  await cluster.restart(leader);
});

test('a member started without --crl warns that it accepts revoked certificates', async () => {
  const noCrl = { ...cofferBackend, command: (spec: Parameters<typeof cofferBackend.command>[0]) => {
    const command = cofferBackend.command(spec);
    const at = command.args.indexOf('--crl');
    assert.ok(at >= 0, 'the harness starts members with --crl');
    return { ...command, args: command.args.filter((_, i) => i !== at && i !== at + 1) };
  } };
  await withCluster({ size: 1, backend: noCrl, faults: false }, async (single) => {
    await single.leader();
    const text = await readFile(single.members[0]!.logFile, 'utf8');
    const warning = text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line & { level?: number }).find((l) => l.msg?.startsWith(withoutCrl) === true);
    assert.ok(warning !== undefined, `the member's log warns: ${text.slice(0, 2000)}`);
    assert.equal(warning.level, 40, 'at warn');
  });
});
