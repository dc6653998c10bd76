// Starts scripts/kms-plugin.ts as a child process and resolves once it says it listens.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

const repo = path.resolve(import.meta.dirname, '../../..');

export interface KmsPlugin {
  socketPath: string;
  stop(): Promise<void>;
}

export async function startKmsPlugin(dir: string, name: string, keyId?: string): Promise<KmsPlugin> {
  const keyFile = path.join(dir, `${name}.kms-key`);
  await writeFile(keyFile, randomBytes(32), { mode: 0o600 });
  const socketPath = path.join(dir, `${name}.sock`);
  const args = ['--import', 'tsx', path.join(repo, 'scripts/kms-plugin.ts'), '--socket', socketPath, '--key-file', keyFile];
  if (keyId !== undefined) args.push('--key-id', keyId);
  const child: ChildProcess = spawn(process.execPath, args, { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`kms plugin exited with ${code} before listening`)));
  });
  return {
    socketPath,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}
