/**
 * The member's open-file limit (RLIMIT_NOFILE). Every connection holds a file descriptor, and so does
 * every file the member writes, so the limit decides how many connections the client port may hold
 * while the member can still open its own files (clientConnectionsCap; docs/security.md, "Connections").
 *
 * Node.js raises its soft limit to the hard one as it starts (as Go's runtime does for etcd), so the
 * limit read here is the hard limit the member was started with, wherever that could be done.
 */
import { readFileSync } from 'node:fs';
import {
  clientConnectionsMax, clientConnectionsMin, clientConnectionsPerCertificatePercent, memberOwnFilesReserve, peerConnectionsMax, storeOpenFilesMax,
} from '../config/index.ts';

/** This process's (soft) open-file limit as /proc/self/limits shows it; undefined where there is no /proc. */
export function readOpenFilesLimit(): number | undefined {
  let limits: string;
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  if (soft === undefined) return undefined;
  // "unlimited": the kernel's ceiling on any process's limit.
  return soft === 'unlimited' ? Number(readFileSync('/proc/sys/fs/nr_open', 'utf8').trim()) : Number(soft);
}

/** File descriptors the member keeps for its files and its peers, whatever its clients hold. */
export const memberFilesReserve = storeOpenFilesMax + peerConnectionsMax + memberOwnFilesReserve;

/**
 * How many connections the client port may hold under the open-file limit `openFiles`: what it leaves
 * beyond memberFilesReserve, within clientConnectionsMin and clientConnectionsMax (clientConnectionsMax
 * when the limit is unknown).
 */
export function clientConnectionsCap(openFiles: number | undefined): number {
  if (openFiles === undefined) return clientConnectionsMax;
  return Math.max(clientConnectionsMin, Math.min(clientConnectionsMax, openFiles - memberFilesReserve));
}

/** How many of the client port's `cap` connections one certificate may hold (clientConnectionsPerCertificatePercent). */
export function clientConnectionsPerCertificate(cap: number): number {
  return Math.max(1, Math.floor(cap * clientConnectionsPerCertificatePercent / 100));
}
