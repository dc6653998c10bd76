// A resource test (measured, not timed) against a real member process over mutual TLS: 100 watchers
// that never read while 100 MB of Secret updates are written. Each watch response may hold at most
// watchUnsentBytesMax unsent (plus one event) before it is ended, so the member's memory stays under a
// bound (docs/security.md) instead of growing with every write; the member keeps serving; and one user
// cannot hold more than watchStreamsPerUserMax watch streams.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { test } from 'node:test';
import { objectBytesMax, watchStreamsPerUserMax, watchUnsentBytesMax } from '../../../src/config/index.ts';
import { issueClient, loadCa } from '../../../src/pki/index.ts';
import { type Cluster, waitBootstrapped, withCluster } from '../../support/cluster/index.ts';

const stalledWatchers = 100;
const writes = 100;
/** About 1 MB per update once base64 and JSON are added: 100 MB written in all. */
const valueBytes = 700 * 1024;
/**
 * What one stalled watcher may cost the member: watchUnsentBytesMax unsent, plus the TLS records of the
 * event being written (the event's line itself is encoded once and shared by every watcher).
 */
const perWatcherBytesMax = watchUnsentBytesMax + objectBytesMax;
/** What 100 MB of writes cost a member without any watcher (the store, the log, garbage not yet collected): 242 MiB measured. */
const writesGrowthBytesMax = 300 * 1024 * 1024;
/** The member's RSS growth bound while the stalled watchers exist (docs/security.md); without a bound each would hold all 100 MB. */
const rssGrowthBytesMax = writesGrowthBytesMax + stalledWatchers * perWatcherBytesMax;

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, 'VmRSS in /proc');
  return Number(match[1]) * 1024;
}

function call(cluster: Cluster, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const tls = cluster.clientTls();
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${cluster.clientUrl(0)}${path}`, { method, cert: tls.cert, key: tls.key, ca: tls.ca, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A watch whose client reads its response headers and then nothing more (as the admin, or `tls`'s user). */
async function stalledWatch(cluster: Cluster, tls = cluster.clientTls()): Promise<{ socket: TLSSocket; status: number }> {
  const url = new URL(cluster.clientUrl(0));
  const socket = connect({ host: url.hostname, port: Number(url.port), cert: tls.cert, key: tls.key, ca: tls.ca, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
  socket.write('GET /api/v1/namespaces/default/secrets?watch=true HTTP/1.1\r\nHost: localhost\r\n\r\n');
  const head = await new Promise<string>((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1')));
    socket.once('error', reject);
  });
  socket.pause(); // from here on, nothing is read: the kernel's buffers fill, then the member's
  return { socket, status: Number(head.split(' ')[1]) };
}

test('100 stalled watchers during 100 MB of writes: memory stays bounded, the member keeps serving, one user holds at most watchStreamsPerUserMax watch streams', { timeout: 600_000 }, async () => {
  await withCluster({ size: 1, faults: false }, async (cluster) => {
    const pid = cluster.members[0]!.pid!;
    await waitBootstrapped(cluster);
    const created = await call(cluster, 'POST', '/api/v1/namespaces/default/secrets', { metadata: { name: 'big' }, data: { v: Buffer.alloc(16).toString('base64') } });
    assert.equal(created.status, 201, created.text);
    const watchers: TLSSocket[] = [];
    for (let i = 0; i < stalledWatchers; i++) {
      const { socket, status } = await stalledWatch(cluster);
      assert.equal(status, 200);
      watchers.push(socket);
    }
    const baseline = rssBytes(pid);
    let peak = baseline;
    for (let i = 0; i < writes; i++) {
      const value = Buffer.alloc(valueBytes, i % 251).toString('base64');
      const put = await call(cluster, 'PUT', '/api/v1/namespaces/default/secrets/big', { metadata: { name: 'big' }, data: { v: value } });
      assert.equal(put.status, 200, put.text.slice(0, 200));
      peak = Math.max(peak, rssBytes(pid));
    }
    const growth = peak - baseline;
    process.stdout.write(`# stalled watchers: RSS ${Math.round(baseline / 1048576)} MiB before, peak ${Math.round(peak / 1048576)} MiB (growth ${Math.round(growth / 1048576)} MiB, bound ${Math.round(rssGrowthBytesMax / 1048576)} MiB)\n`);
    assert.ok(growth <= rssGrowthBytesMax, `RSS grew by ${growth} bytes, more than ${rssGrowthBytesMax}`);
    // The member still answers a normal client at once.
    assert.equal((await call(cluster, 'GET', '/api/v1/namespaces/default/secrets/big')).status, 200);

    for (const socket of watchers) socket.destroy();

    // One user's watches are capped: another administrator opens watchStreamsPerUserMax, and not one more.
    const ca = await loadCa(cluster.certs.dir);
    await issueClient(ca, { user: 'watcher', groups: ['system:masters'] });
    const watcher = { cert: readFileSync(ca.layout.clientCert('watcher'), 'utf8'), key: readFileSync(ca.layout.clientKey('watcher'), 'utf8'), ca: cluster.clientTls().ca };
    const more: TLSSocket[] = [];
    let refused = 0;
    for (let i = 0; i <= watchStreamsPerUserMax; i++) {
      const { socket, status } = await stalledWatch(cluster, watcher);
      more.push(socket);
      if (status === 429) refused += 1;
      else assert.equal(status, 200);
    }
    assert.equal(refused, 1, `watch ${watchStreamsPerUserMax + 1} of one user is refused with 429`);
    for (const socket of more) socket.destroy();
  });
});
