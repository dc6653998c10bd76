/**
 * Whether another local user could have put a file where a name leads: its owner, and the directories
 * its name is looked up through. A file or socket taken as trusted by its name — a KMS plugin's socket,
 * the CA certificate a restore checks a backup's signer against — is only as safe as these, since
 * whoever may change a directory on the way may put their own entry at the name.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** The user besides this one whose files and directories are trusted: root can change anything anyway. */
const rootUid = 0;
/** Mode bits: its group or others may write to it; the sticky bit (node's fs.constants has no S_ISVTX). */
const groupOrOtherWrite = 0o022;
const sticky = 0o1000;

/**
 * Why a file or directory that belongs to `ownerUid` is not trusted — "belongs to uid 65534, neither
 * this user (uid 1000) nor root": its owner can replace it or what it holds — or undefined when it is
 * this user's or root's, or where there are no uids (Windows).
 */
export function foreignOwner(ownerUid: number): string | undefined {
  const uid = process.geteuid?.();
  if (uid === undefined || ownerUid === uid || ownerUid === rootUid) return undefined;
  return `belongs to uid ${ownerUid}, neither this user (uid ${uid}) nor root`;
}

/**
 * Why someone other than this user and root may write to the file `stat` describes — "belongs to uid
 * 65534, …" or "has mode 0666: group or others may write to it" — or undefined when no one else may
 * (where there are no uids, Windows, nothing is said).
 */
export function othersMayWrite(stat: { uid: number; mode: number }): string | undefined {
  if (process.geteuid === undefined) return undefined;
  const owner = foreignOwner(stat.uid);
  if (owner !== undefined) return owner;
  const mode = stat.mode & 0o7777;
  return (mode & groupOrOtherWrite) === 0 ? undefined : `has mode 0${mode.toString(8)}: group or others may write to it`;
}

/**
 * Why someone other than this user and root could replace what `file` names, or undefined when no one
 * can. Whoever may change a directory on the way to `file` may put their own entry at its name: so each
 * directory from `file`'s own up to / — on its path as given and as its symbolic links resolve — must be
 * this user's or root's (foreignOwner) and writable by no one else unless sticky (as /tmp: others may add
 * names there, but not remove or rename one that is not theirs). The entry itself is the caller's to check.
 */
export async function othersMayReplace(file: string): Promise<string | undefined> {
  if (process.geteuid === undefined) return undefined; // no uids, no POSIX modes (Windows)
  const parent = path.dirname(path.resolve(file));
  for (const dir of new Set([...selfAndAbove(parent), ...selfAndAbove(await fs.realpath(parent))])) {
    const stat = await fs.stat(dir);
    const owner = foreignOwner(stat.uid);
    if (owner !== undefined) return `${dir} ${owner}`;
    const mode = stat.mode & 0o7777;
    if ((mode & groupOrOtherWrite) !== 0 && (mode & sticky) === 0) return `${dir} has mode 0${mode.toString(8)}: others may write to it and it is not sticky`;
  }
  return undefined;
}

/** `dir` and each directory above it, up to /. */
function selfAndAbove(dir: string): string[] {
  const chain = [dir];
  for (let at = dir; path.dirname(at) !== at; at = path.dirname(at)) chain.push(path.dirname(at));
  return chain;
}
