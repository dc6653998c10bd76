// Starts scripts/kms-plugin.ts as a child process and resolves once it says it listens.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
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

export interface TamperingProxy {
  socketPath: string;
  /** While true, each wrap request reaches the plugin with other bytes than the member sent. */
  tamper: boolean;
  stop(): Promise<void>;
}

/**
 * A socket in front of a plugin that passes each request on and its answer back, and, while `tamper`
 * is set, has the plugin wrap zeros in place of the key a wrap sends: a plugin that answers a wrap with
 * a valid wrapping of something else, as a buggy or hostile one may.
 */
export async function startTamperingProxy(socketPath: string, upstream: string): Promise<TamperingProxy> {
  const proxy: TamperingProxy = {
    socketPath,
    tamper: false,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
  // Half-open: the member ends its side after its request, and the answer comes back after that.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    let buffered = Buffer.alloc(0);
    client.on('error', () => client.destroy());
    client.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const newline = buffered.indexOf(0x0a);
      if (newline < 0) return;
      const request = JSON.parse(buffered.subarray(0, newline).toString('utf8')) as Record<string, unknown>;
      if (proxy.tamper && request.op === 'wrap' && typeof request.plaintext === 'string') {
        request.plaintext = Buffer.alloc(Buffer.from(request.plaintext, 'base64').length).toString('base64');
      }
      const plugin = net.createConnection({ path: upstream }, () => plugin.end(JSON.stringify(request) + '\n'));
      plugin.on('error', () => client.destroy());
      plugin.pipe(client);
    });
  });
  server.listen(socketPath);
  await once(server, 'listening');
  return proxy;
}
