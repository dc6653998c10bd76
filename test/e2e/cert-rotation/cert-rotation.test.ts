// Certificate rotation as an operator does it (README "Rotation"), on a real 3-member cluster under
// client load: `coffer ca issue --member mN --host … --force` (the real CLI, in a child process)
// rewrites a member's certificate and key in place, the member's file watch reloads them, and no
// request of the load fails. Then the client certificate the load uses is rotated the same way and the
// replaced member certificates are revoked (`coffer ca revoke`), still under load — no connection is
// closed by it, since each member moved its peer links to its new certificate when it reloaded it;
// finally peer links are made to redial, and the members must hold the same data.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { text } from '../../../src/client/index.ts';
import { normalizeSerial } from '../../../src/pki/index.ts';
import { Cluster, delay, repoRoot, waitBootstrapped, waitConverged } from '../../support/cluster/index.ts';
import { waitUntil } from '../../support/wait.ts';
import { RotationLoad } from './load.ts';
import { presentedSerial, waitPresents } from './probe.ts';

const run = promisify(execFile);
const cofferMain = join(repoRoot, 'src/server/coffer.ts');
/** Bound for a member to present a rotated certificate (debounce + reload; generous for 2 busy cores). */
const reloadTimeoutMs = 15_000;
const hosts = ['--host', '127.0.0.1', '--host', 'localhost'];

let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ size: 3, backend: 'coffer' });
  await waitBootstrapped(cluster);
});

after(async () => {
  await cluster.stop();
});

/** `coffer ca issue …` in a child process against the cluster's CA dir; returns the serial it printed. */
async function caIssue(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', cofferMain, 'ca', 'issue', '--dir', cluster.certs.dir, '--force', ...args], { cwd: repoRoot });
  const serial = /: serial ([0-9a-f]+),/.exec(stdout)?.[1];
  assert.ok(serial !== undefined, `ca issue printed a serial: ${stdout}`);
  return normalizeSerial(serial);
}

/** On failure, the members' log tails and the kept cluster dir say what happened. */
async function explained(t: TestContext, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    t.diagnostic(await cluster.describeFailure(error));
    await cluster.stop(true);
    throw error;
  }
}

test('every member certificate, then the client certificate, rotates under load and the old member certificates are revoked, with zero failed requests; the members converge', async (t) => {
  await explained(t, async () => {
    const probeTls = cluster.clientTls();
    const endpoints = cluster.names.map((_, i) => cluster.clientUrl(i));
    const load = new RotationLoad(endpoints, cluster.clientTls());
    await load.start();
    const steps: string[] = [];
    const rotated: string[] = [];
    const replaced: string[] = [];
    try {
      for (const [i, name] of cluster.names.entries()) {
        const clientPort = cluster.clientPorts[i] as number;
        const peerPort = cluster.peerPorts[i] as number;
        const old = await presentedSerial(clientPort, probeTls);
        assert.equal(await presentedSerial(peerPort, probeTls), old, `${name}: one certificate on both listeners`);
        const requestsBefore = load.total;

        const serial = await caIssue('--member', name, ...hosts);
        assert.notEqual(serial, old, `${name}: ca issue made a new certificate`);
        await waitPresents(clientPort, probeTls, serial, reloadTimeoutMs);
        await waitPresents(peerPort, probeTls, serial, reloadTimeoutMs);
        rotated.push(serial);
        replaced.push(old);

        // Peer traffic after the rotation: a write through the rotated member commits, and a
        // linearizable read on every member (a ReadIndex round through the leader) sees it.
        const key = `cert-rot/after/${name}`;
        await cluster.client(i).put(key, serial);
        for (const j of cluster.names.keys()) {
          const kv = await cluster.client(j).get(key);
          assert.equal(kv === undefined ? undefined : text(kv.value), serial, `${cluster.names[j]} sees the write made through ${name} after its rotation`);
        }

        const during = load.total - requestsBefore;
        steps.push(`${name}: ${during} requests while rotating (${old} → ${serial})`);
        assert.ok(during > 0, `the load made requests while ${name} rotated`);
        assert.deepEqual(load.failures, [], `no request failed up to ${name}'s rotation`);
      }

      // The client certificate the load uses: a new one for the same user, taken by every worker.
      const generationBefore = load.generation;
      const clientSerial = await caIssue('--user', 'admin', '--group', 'system:masters');
      const [cert, key, ca] = await Promise.all([cluster.certs.clientCert, cluster.certs.clientKey, cluster.certs.ca].map((f) => readFile(f, 'utf8')));
      assert.equal(normalizeSerial(new X509Certificate(cert as string).serialNumber), clientSerial);
      load.useTls({ cert, key, ca });
      await waitUntil(() => Promise.resolve((load.counts.byGeneration[generationBefore + 1] ?? 0) >= 30), reloadTimeoutMs, 'requests made with the new client certificate');
      steps.push(`client admin: ${load.counts.byGeneration[generationBefore + 1] ?? 0} requests with the new certificate (serial ${clientSerial})`);

      // The operator revokes the replaced member certificates; every member reloads the new CRL. (The
      // old admin certificate stays valid: the harness's own clients still hold it.)
      const requestsBefore = load.total;
      let reloadsBefore: number[] = [];
      for (const [n, serial] of replaced.entries()) {
        if (n === replaced.length - 1) reloadsBefore = await Promise.all(cluster.members.map((m) => reloadsLogged(m.logFile)));
        await run(process.execPath, ['--import', 'tsx', cofferMain, 'ca', 'revoke', serial, '--dir', cluster.certs.dir], { cwd: repoRoot });
      }
      await waitUntil(async () => (await Promise.all(cluster.members.map((m) => reloadsLogged(m.logFile)))).every((count, i) => count > (reloadsBefore[i] ?? 0)),
        reloadTimeoutMs, 'every member reloads the CRL');
      steps.push(`revoking the ${replaced.length} replaced member certificates: ${load.total - requestsBefore} requests meanwhile`);
      // A member moves its peer links (both ways) to its new certificate as soon as it reloads it, so
      // revoking the old certificates closes no connection (a revocation closes those still using one).
      const closedByRevocation = await Promise.all(cluster.members.map(async (m) => (await readFile(m.logFile, 'utf8')).includes('closed connections whose certificate is revoked')));
      assert.deepEqual(closedByRevocation, [false, false, false], 'no link still used a replaced certificate');
    } finally {
      await load.stop();
    }
    for (const step of steps) t.diagnostic(step);
    t.diagnostic(`load: ${load.total} requests (${load.counts.puts} puts, ${load.counts.secretUpdates} Secret updates, ${load.counts.reads} linearizable reads), ${load.failures.length} failed; per client certificate ${load.counts.byGeneration.join(' / ')}`);
    assert.deepEqual(load.failures, [], 'no request of the load failed');
    assert.ok(load.counts.puts > 0 && load.counts.secretUpdates > 0 && load.counts.reads > 0, 'every kind of request was made');

    // Every listener presents its new certificate.
    for (const [i, serial] of rotated.entries()) {
      assert.equal(await presentedSerial(cluster.clientPorts[i] as number, probeTls), serial);
      assert.equal(await presentedSerial(cluster.peerPorts[i] as number, probeTls), serial);
    }

    // Links opened before the rotation still carry the old sessions; reset every peer connection so
    // the members redial, now presenting the new certificates on both ends (the old ones are revoked:
    // a member still dialing with one would be refused), and check writes through each member still
    // commit everywhere.
    for (const i of cluster.names.keys()) cluster.network.resetMember(i);
    const attempts: number[] = [];
    for (const [i, name] of cluster.names.entries()) {
      const key = `cert-rot/redialed/${name}`;
      attempts.push(await putEventually(i, key, name));
      for (const j of cluster.names.keys()) {
        const kv = await cluster.client(j).get(key);
        assert.equal(kv === undefined ? undefined : text(kv.value), name, `${cluster.names[j]} sees the write through ${name} over redialed links`);
      }
    }

    t.diagnostic(`after the peer reset: puts took ${attempts.join(', ')} attempts`);
    const converged = await waitConverged(cluster, 'cert-rot/');
    assert.equal(new Set(converged.hashes).size, 1, `one HashKV on every member at revision ${converged.revision}: ${String(converged.hashes)}`);
    assert.equal(new Set(converged.digests).size, 1, 'the same keys and values on every member');
  });
});

test('SIGHUP makes a member reload its certificates, and it keeps serving', async (t) => {
  await explained(t, async () => {
    const member = cluster.members[0];
    assert.ok(member?.pid !== undefined && member.running, 'm1 is running');
    const reloads = () => reloadsLogged(member.logFile);
    const before = await reloads();
    process.kill(member.pid, 'SIGHUP');
    const deadline = Date.now() + reloadTimeoutMs;
    while ((await reloads()) === before) {
      if (!member.running) assert.fail(`m1 exited on SIGHUP (${String(await member.exited)})`);
      assert.ok(Date.now() < deadline, `m1 logged no reload within ${reloadTimeoutMs} ms of SIGHUP`);
      await delay(50);
    }
    assert.ok(member.running, 'm1 still runs after the reload');
    await cluster.client(0).put('cert-rot/after-sighup', 'ok');
    assert.equal(text((await cluster.client(0).get('cert-rot/after-sighup'))?.value ?? new Uint8Array()), 'ok');
  });
});

/**
 * The reset may lose a message in flight (a forwarded proposal then times out): retries the write;
 * returns how many attempts it took.
 */
async function putEventually(i: number, key: string, value: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (let attempt = 1; ; attempt++) {
    try {
      await cluster.client(i, { requestTimeoutMs: 3_000 }).put(key, value);
      return attempt;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
  }
}

/** How many times the member logged a successful TLS reload. */
async function reloadsLogged(logFile: string): Promise<number> {
  return (await readFile(logFile, 'utf8')).split('"msg":"TLS material reloaded"').length - 1;
}
