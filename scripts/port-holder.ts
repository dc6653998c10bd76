/**
 * Whether a loopback port is free, and if not, who holds it: the process listening on it, read from
 * Linux's /proc (the socket's inode in /proc/net/tcp{,6}, then the process with that socket among its
 * file descriptors). Elsewhere, or for another user's process, only that the port is taken.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { createServer } from 'node:net';

/** The process listening on a port: its pid, its command line and its working directory ('' if unreadable). */
export interface PortListener {
  pid: number;
  args: string[];
  cwd: string;
}

/**
 * undefined when 127.0.0.1:port can be listened on; otherwise the process holding it, or null when
 * it is taken but its owner cannot be read (not Linux, another user's process).
 */
export async function portListener(port: number): Promise<PortListener | null | undefined> {
  const free = await new Promise<boolean>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(false) : reject(error)));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  if (free) return undefined;
  const inodes = await listeningInodes(port);
  for (const pid of await processIds()) {
    if (!(await holdsSocket(pid, inodes))) continue;
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter((a) => a !== '');
    return { pid: Number(pid), args, cwd: await readlink(`/proc/${pid}/cwd`).catch(() => '') };
  }
  return null;
}

/** undefined when 127.0.0.1:port can be listened on; otherwise who holds it, in words. */
export async function portHolder(port: number): Promise<string | undefined> {
  const listener = await portListener(port);
  return listener === undefined ? undefined : describeListener(listener);
}

/** A port's holder in words: its pid and command line (shortened). */
export function describeListener(listener: PortListener | null): string {
  if (listener === null) return 'another process (its owner could not be read)';
  const command = listener.args.join(' ');
  return `pid ${listener.pid} (${command.length > 120 ? `${command.slice(0, 117)}...` : command || 'unknown command'})`;
}

/** Inodes of the sockets listening on `port` (state 0A), IPv4 and IPv6. */
async function listeningInodes(port: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (local === undefined || fields[3] !== '0A') continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && fields[9] !== undefined) inodes.add(fields[9]);
    }
  }
  return inodes;
}

async function processIds(): Promise<string[]> {
  return (await readdir('/proc').catch(() => [])).filter((entry) => /^\d+$/.test(entry));
}

async function holdsSocket(pid: string, inodes: ReadonlySet<string>): Promise<boolean> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined && inodes.has(inode)) return true;
  }
  return false;
}
