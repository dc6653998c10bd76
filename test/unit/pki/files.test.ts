// writeFileAtomic's directories: those it creates for a key, a certificate or a kubeconfig are their
// user's alone (0700) whatever the umask, as ~/.ssh is; a directory that exists keeps its mode.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { privateFileMode, publicFileMode, writeFileAtomic } from '../../../src/pki/index.ts';

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

for (const umask of [0o000, 0o022, 0o277]) {
  test(`under umask ${umask.toString(8).padStart(3, '0')}, writeFileAtomic creates the missing directories 0700 and leaves an existing one alone`, async (t) => {
    const base = await mkdtemp(join(tmpdir(), 'coffer-pki-files-'));
    t.after(() => rm(base, { recursive: true, force: true }));
    await chmod(base, 0o755);
    const previous = process.umask(umask);
    try {
      await writeFileAtomic(join(base, 'certs', 'clients', 'bob.key'), 'key', privateFileMode);
      await writeFileAtomic(join(base, 'certs', 'clients', 'bob.crt'), 'cert', publicFileMode);
    } finally {
      process.umask(previous);
    }
    const modes = await Promise.all(['', 'certs', 'certs/clients', 'certs/clients/bob.key', 'certs/clients/bob.crt']
      .map(async (p) => [p, octal((await stat(join(base, p))).mode)]));
    assert.deepEqual(Object.fromEntries(modes), {
      '': '0755', 'certs': '0700', 'certs/clients': '0700', 'certs/clients/bob.key': '0600', 'certs/clients/bob.crt': '0644',
    });
  });
}
