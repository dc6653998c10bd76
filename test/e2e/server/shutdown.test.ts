// A member holding 100 open watches (80 Kubernetes, 20 KV) stops on SIGTERM: every stream is ended
// (its client sees the end, not a hang), and the process exits 0 within memberStopMsMax.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { memberStopMsMax } from '../../../src/config/index.ts';
import { Cluster } from '../../support/cluster/index.ts';

const watchCount = { kubernetes: 80, kv: 20 };

/** Opens a streaming request and resolves once its headers arrived: the watch has started. */
function openStream(url: string, tls: RequestOptions, method: string, body?: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, method, agent: false }, resolve);
    req.on('error', reject);
    req.end(body);
  });
}

/** Resolves when the response ended or its connection closed, whichever comes first. */
function ended(response: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    response.on('end', resolve);
    response.on('close', resolve);
    response.on('error', () => resolve());
    response.resume();
  });
}

test(`a member with ${watchCount.kubernetes + watchCount.kv} open watches ends them and exits 0 within ${memberStopMsMax} ms of SIGTERM`, async () => {
  const cluster = await Cluster.start({ size: 1, faults: false });
  try {
    const tls = { ca: readFileSync(cluster.certs.ca), cert: readFileSync(cluster.certs.clientCert), key: readFileSync(cluster.certs.clientKey) };
    const base = cluster.clientUrl(0);
    const streams: IncomingMessage[] = [];
    for (let i = 0; i < watchCount.kubernetes; i += 1) {
      const response = await openStream(`${base}/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true`, tls, 'GET');
      assert.equal(response.statusCode, 200);
      streams.push(response);
    }
    for (let i = 0; i < watchCount.kv; i += 1) {
      const body = JSON.stringify({ create_request: { key: Buffer.from(`watched/${i}`).toString('base64') } });
      const response = await openStream(`${base}/v3/watch`, tls, 'POST', body);
      assert.equal(response.statusCode, 200);
      streams.push(response);
    }
    const allEnded = Promise.all(streams.map(ended));

    const member = cluster.members[0]!;
    const stoppedAt = performance.now();
    // stop() sends SIGTERM and would SIGKILL only well after the bound; the exit code tells which happened.
    await member.stop(3 * memberStopMsMax);
    const exitedAfterMs = performance.now() - stoppedAt;
    assert.equal(await member.exited, 0, 'an orderly stop, not the watchdog (1) nor SIGKILL');
    assert.ok(exitedAfterMs < memberStopMsMax, `exited after ${Math.round(exitedAfterMs)} ms`);
    await allEnded;
    process.stdout.write(`# stopped with ${streams.length} open watches in ${Math.round(exitedAfterMs)} ms\n`);
  } finally {
    await cluster.stop();
  }
});

test('a leader stopped on SIGTERM hands leadership over first: the others name a new leader the moment it has exited, and take a write through either', async () => {
  const cluster = await Cluster.start({ size: 3, faults: false });
  try {
    const leader = await cluster.leader();
    const oldId = (await cluster.client(leader).status()).header.memberId;
    assert.equal(await cluster.stopMember(leader), 0);
    // Without the hand-over the others would still name the stopped member until an election timeout passed.
    const remaining = [0, 1, 2].filter((i) => i !== leader);
    const seen = await Promise.all(remaining.map((i) => cluster.client(i, { requestTimeoutMs: 5_000 }).status()));
    for (const status of seen) {
      assert.notEqual(status.leader, oldId, 'a remaining member still names the stopped leader');
      assert.notEqual(status.leader, '0', 'a remaining member knows no leader');
    }
    const log = readFileSync(cluster.members[leader]!.logFile, 'utf8');
    assert.match(log, /"msg":"leadership handed over before stopping"/);
    for (const i of remaining) await cluster.client(i, { requestTimeoutMs: 5_000 }).put(`after-stop-${i}`, 'v');
  } finally {
    await cluster.stop();
  }
});
