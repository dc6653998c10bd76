/**
 * A fresh copy of this checkout, as a clone would be: the files git tracks, and files not yet committed
 * that git does not ignore — so no certs/, data/ or dist/ of the developer's own. Its node_modules is
 * a copy (when the test runs `npm install` in it) or a link to this checkout's (when it only runs code).
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../cluster/index.ts';

export async function copyCheckout(options: { nodeModules: 'copy' | 'link'; prefix: string }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), options.prefix));
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: repoRoot, encoding: 'utf8' })
    .split('\0').filter((file) => file !== '');
  for (const file of files) {
    await mkdir(join(dir, dirname(file)), { recursive: true });
    // A file deleted but not yet committed is still listed: skip what is not there.
    await cp(join(repoRoot, file), join(dir, file), { preserveTimestamps: true, force: false }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  if (options.nodeModules === 'copy') await cp(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  else await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

export async function removeCheckout(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
