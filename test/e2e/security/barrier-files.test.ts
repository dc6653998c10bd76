// Every file a member leaves in its data dir went through the barrier or is declared public
// (src/storage/barrier/areas.ts). A real member process takes Secrets, ConfigMaps, KV puts and a leased
// key, compacts its WAL into Raft snapshots, rotates its DEK until the old one is retired, writes a backup,
// and stops. Then every file of the data dir is enumerated: a file in neither list fails the test; every
// byte of every file is searched for the planted markers (raw, base64, hex); and each sealed file parses
// as the barrier's framing with every page naming the active DEK — the WAL's segments and snapshot files
// frame by frame, the identity's page, the audit key's sealed private key, the keyring's MACed body.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { test } from 'node:test';
import { parseAuditKeyFile } from '../../../src/audit/index.ts';
import { K8sClient } from '../../../src/client/index.ts';
import { pageFormatVersion } from '../../../src/crypto/index.ts';
import { classifyPath, sealedAreas } from '../../../src/storage/barrier/areas.ts';
import { scanFrames } from '../../../src/storage/wal/frame.ts';
import { Cluster, runCoffer, waitBootstrapped } from '../../support/cluster/index.ts';
import { filesUnder, markersIn } from '../../support/plaintext-scan.ts';
import { waitUntil } from '../../support/wait.ts';

const marker = (what: string) => `barrier-${what}-7d3f91c4e2`;
const markers = ['secret', 'configmap', 'kv', 'lease', 'after-rotation'].map(marker);
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The DEK id a sealed page names in its header, after checking the header is a page header. */
function dekOfPage(page: Uint8Array, where: string): number {
  assert.equal(page[0], pageFormatVersion, `${where}: not a sealed page (format byte ${page[0]})`);
  return Buffer.from(page).readUInt32BE(1);
}

/** The DEK ids the frames of a WAL segment or snapshot file name; fails on a file that is not all frames. */
function frameDeks(bytes: Buffer, where: string): Set<number> {
  const deks = new Set<number>();
  const end = scanFrames(bytes, (frame) => deks.add(dekOfPage(frame.sealed, `${where} at ${frame.offset}`)));
  assert.notEqual(end.kind, 'corrupt', `${where}: ${JSON.stringify(end)}`);
  return deks;
}

/** What each sealed file must parse as; returns the DEK ids its pages name (none for the keyring). */
async function sealedFraming(file: string, name: string): Promise<Set<number>> {
  const bytes = await readFile(file);
  if (name === sealedAreas.keyring.paths[0]) {
    const keyring = JSON.parse(bytes.toString('utf8')) as { format: string; body: string; mac: string };
    assert.equal(keyring.format, 'coffer-keyring');
    assert.ok(keyring.mac.length > 0 && keyring.body.length > 0);
    return new Set();
  }
  if (name === sealedAreas.identity.paths[0]) return new Set([dekOfPage(bytes, name)]);
  if (name === sealedAreas.auditKey.paths[0]) return new Set([dekOfPage(parseAuditKeyFile(bytes).sealedPrivateKey, name)]);
  if (name.startsWith('wal/')) return frameDeks(bytes, name);
  // LevelDB's tables and journal: their values are sealed pages inside LevelDB's own format (tables
  // Snappy-compressed), searched here for the markers only. That no record sealed with the retired DEK is
  // left in them is test/integration/keys/retire-leaves-nothing.test.ts's, which knows each record's nonce.
  return new Set();
}

test('every file of a member\'s data dir went through the barrier or is declared public, and none holds a value in the clear', { timeout: 300_000 }, async () => {
  const cluster = await Cluster.start({ size: 1, faults: false, keep: true, memberArgs: ['--snapshot-count', '20', '--snapshot-catch-up-entries', '5'] });
  let clean = false;
  try {
    await waitBootstrapped(cluster);
    const k8s = new K8sClient({ endpoints: [cluster.clientUrl(0)], tls: cluster.clientTls() });
    const kv = cluster.client(0);
    try {
      await k8s.create('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, data: { password: b64(marker('secret')) } }, { namespace: 'default' });
      await k8s.create('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { url: marker('configmap') } }, { namespace: 'default' });
      await kv.put('app/kv', marker('kv'));
      const granted = await cluster.post(0, '/v3/lease/grant', { TTL: 600 });
      assert.equal(granted.status, 200, granted.body);
      const lease = (JSON.parse(granted.body) as { ID: string }).ID;
      const leased = await cluster.post(0, '/v3/kv/put', { key: b64('app/leased'), value: b64(marker('lease')), lease });
      assert.equal(leased.status, 200, leased.body);
      for (let i = 0; i < 40; i++) await kv.put(`app/filler/${i}`, `filler-${i}`); // past --snapshot-count: Raft snapshots and compacted WAL

      const rotated = await k8s.rotateDek();
      await waitUntil(async () => (await k8s.memberKeys()).deks.length === 1, 120_000, 'the old DEK retired');
      await kv.put('app/after', marker('after-rotation'));
      const backupPass = join(cluster.dir, 'backup.pass');
      await writeFile(backupPass, 'a backup passphrase for the barrier test\n', { mode: 0o600 });
      const saved = await runCoffer(cluster, 'snapshot', 'save', join(cluster.dir, 'backup.coffer'), '--backup-passphrase-file', backupPass);
      assert.equal(saved.code, 0, saved.stderr);
      // The values are really stored (a scan of an empty store would pass vacuously).
      const secret = await k8s.get('secrets', 'db', { namespace: 'default' }) as unknown as { data: Record<string, string> };
      assert.equal(Buffer.from(secret.data.password!, 'base64').toString(), marker('secret'));
      assert.equal(new TextDecoder().decode((await kv.get('app/leased'))?.value), marker('lease'));
      await cluster.stop(true);

      const dataDir = cluster.dataDir(0);
      const unlisted: string[] = [];
      const seen = new Set<string>();
      for (const file of await filesUnder(dataDir)) {
        const name = relative(dataDir, file).split(sep).join('/');
        const where = classifyPath(name);
        if (where === undefined) {
          unlisted.push(name);
          continue;
        }
        assert.deepEqual(markersIn(await readFile(file), markers), [], `a value in the clear in ${name}`);
        if (where === 'public') continue;
        seen.add(where.name);
        for (const dek of await sealedFraming(file, name)) assert.equal(dek, rotated.dekId, `${name} names DEK ${dek}, not the active DEK ${rotated.dekId}`);
      }
      assert.deepEqual(unlisted, [], 'files neither sealed by the barrier nor declared public');
      assert.deepEqual([...seen].sort(), Object.values(sealedAreas).map((a) => a.name).sort(), 'every sealed area was written');
      assert.ok((await filesUnder(join(dataDir, 'wal'))).some((f) => f.endsWith('.snap')), 'a Raft snapshot file was written');
    } finally {
      k8s.close();
    }
    clean = true;
  } finally {
    await cluster.stop(!clean);
  }
});
