/**
 * The directory of Coffer's package.json: where the files shipped beside the code live (the default
 * policies in policies/). Found by walking up from this file, so it is the same whether the code runs
 * from src/ (tsx) or from the build in dist/.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}
