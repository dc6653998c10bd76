// The marker scan over a real cluster driven by real clients: three member processes, kubectl (apply
// twice, so kubectl's last-applied annotation holds the value; JSON, merge and strategic patches; a
// server-side dry run), the coffer CLI (create, rotate, two-phase rotation, rollback, ConfigMaps), the
// KV API, watches and an encrypted backup. Afterwards no stored value — nor its base64 or hex — may
// appear in any file under any member's data dir (WAL, store, keyring, audit log), in the members' logs,
// or in the backup file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { buildKubeconfig } from '../../../src/pki/index.ts';
import { Cluster, runCoffer, waitBootstrapped } from '../../support/cluster/index.ts';
import { plaintextFindings } from '../../support/plaintext-scan.ts';

const run = promisify(execFile);
const marker = (what: string) => `mk-${what}-5e1c7a2b`;
const markers = ['apply1', 'apply2', 'jsonpatch', 'mergepatch', 'dryrun', 'cli', 'rotate', 'staged', 'configmap', 'cmpatch', 'kv', 'backup'].map(marker);
const b64 = (s: string) => Buffer.from(s).toString('base64');

test('no stored value reaches a data dir, a member log or a backup in the clear, whatever client wrote it', { timeout: 600_000 }, async () => {
  const cluster = await Cluster.start({ size: 3, faults: false, keep: true });
  let clean = false;
  try {
    await waitBootstrapped(cluster);
    const kubeconfig = join(cluster.dir, 'kubeconfig');
    const pem = (file: string) => readFileSync(file, 'utf8');
    await writeFile(kubeconfig, buildKubeconfig({ endpoints: [cluster.clientUrl(0)], caPem: pem(cluster.certs.ca), certPem: pem(cluster.certs.clientCert), keyPem: pem(cluster.certs.clientKey) }), { mode: 0o600 });
    const kubectl = async (args: string[], input?: string) => {
      const child = run('kubectl', [`--kubeconfig=${kubeconfig}`, `--cache-dir=${join(cluster.dir, 'kube-cache')}`, ...args]);
      if (input !== undefined) child.child.stdin?.end(input);
      const { stdout } = await child;
      return stdout;
    };
    const secret = (value: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default' }, stringData: { password: value } });
    await kubectl(['apply', '-f', '-'], secret(marker('apply1')));
    await kubectl(['apply', '-f', '-'], secret(marker('apply2')));
    await kubectl(['patch', 'secret', 'db', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/data/password', value: b64(marker('jsonpatch')) }])]);
    await kubectl(['patch', 'secret', 'db', '--type=merge', '-p', JSON.stringify({ data: { other: b64(marker('mergepatch')) } })]);
    await kubectl(['apply', '--dry-run=server', '-f', '-'], secret(marker('dryrun')));
    await kubectl(['create', 'configmap', 'app', `--from-literal=url=${marker('configmap')}`]);
    await kubectl(['patch', 'configmap', 'app', '--type=strategic', '-p', JSON.stringify({ data: { extra: marker('cmpatch') } })]);
    const watch = run('kubectl', [`--kubeconfig=${kubeconfig}`, 'get', 'secrets', '--watch', '--request-timeout=20s', '-o', 'name']);

    const cli = async (...args: string[]) => {
      const result = await runCoffer(cluster, ...args);
      assert.equal(result.code, 0, `coffer ${args.join(' ')}: ${result.stderr}`);
    };
    await cli('secret', 'create', 'api', '-n', 'default', '--from-literal', `token=${marker('cli')}`);
    await cli('secret', 'rotate', 'api', '-n', 'default', '--from-literal', `token=${marker('rotate')}`);
    await cli('secret', 'rotate', 'api', '-n', 'default', '--stage', '--from-literal', `token=${marker('staged')}`);
    await cli('secret', 'promote', 'api', '-n', 'default');
    await cli('secret', 'rollback', 'api', '-n', 'default', '--to', '1');
    await cluster.client(0).put('app/key', marker('kv'));
    await cluster.client(1).put('app/backup', marker('backup'));
    const backup = join(cluster.dir, 'backup.coffer');
    const passphrase = join(cluster.dir, 'backup.pass');
    await writeFile(passphrase, 'a backup passphrase for the marker scan\n', { mode: 0o600 });
    const saved = await runCoffer(cluster, 'snapshot', 'save', backup, '--backup-passphrase-file', passphrase);
    assert.equal(saved.code, 0, saved.stderr);
    await watch.catch(() => undefined); // ends at its request timeout; it only had to be open during the writes

    // The values are really there (the scan below would pass vacuously otherwise).
    const stored = JSON.parse(await kubectl(['get', 'secret', 'db', '-o', 'json'])) as { data: Record<string, string> };
    assert.equal(Buffer.from(stored.data.password!, 'base64').toString(), marker('jsonpatch'));
    await cluster.stop(true);
    const findings = await plaintextFindings(cluster.dir, markers);
    assert.deepEqual(findings, [], `stored values in the clear:\n${findings.join('\n')}`);
    clean = true;
  } finally {
    await cluster.stop(!clean);
    if (clean) await rm(cluster.dir, { recursive: true, force: true });
  }
});
