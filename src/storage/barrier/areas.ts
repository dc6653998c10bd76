/**
 * What the barrier declares about a member's data dir: the areas it seals (each written by one owner
 * through a handle the barrier gave it, docs/architecture.md "The barrier") and the files written in
 * the clear on purpose, each with its reason. Every file of a data dir matches one of the two lists;
 * test/e2e/security/barrier-files.test.ts fails on a file that matches neither.
 *
 * Patterns are relative to the data dir; `*` matches within one path segment.
 */
import { RecordKind } from '../../crypto/index.ts';

/** A part of the data dir the barrier seals: the files its owner writes and the page kinds it seals there. */
export interface SealedArea {
  readonly name: string;
  readonly paths: readonly string[];
  readonly kinds: readonly RecordKind[];
}

/** The sealed areas of a member's data dir. */
export const sealedAreas = {
  /** The keyring file: every DEK wrapped under the KEK, the body MACed (crypto/keyring.ts); the barrier writes it itself. */
  keyring: { name: 'keyring', paths: ['keyring.json'], kinds: [] },
  /** The WAL's segments and snapshot files, the store's LevelDB tables and journal: every record a sealed page. */
  replica: {
    name: 'replica',
    paths: ['wal/wal-*.log', 'wal/snap-*.snap', 'mvcc/*.ldb', 'mvcc/*.log', 'mvcc.incoming/*.ldb', 'mvcc.incoming/*.log'],
    kinds: [RecordKind.walEntry, RecordKind.walHardState, RecordKind.walSnapshot, RecordKind.mvccRevision, RecordKind.mvccMeta, RecordKind.mvccLease,
      RecordKind.mvccIndexCheckpoint],
  },
  /** The member's identity (server/member-identity.ts), one sealed page. */
  identity: { name: 'identity', paths: ['member.sealed'], kinds: [RecordKind.memberIdentity] },
  /** The audit signing key pair, its private key a sealed page (audit/keys.ts). */
  auditKey: { name: 'audit-key', paths: ['audit-signing.key'], kinds: [RecordKind.audit] },
} as const satisfies Record<string, SealedArea>;

/** A file of the data dir written in the clear on purpose. */
export interface PublicPath {
  readonly path: string;
  readonly why: string;
}

const levelDbHousekeeping = "LevelDB's own housekeeping: file names, sizes and key ranges of sealed tables, never a value";
const sealedToRecipient = "etcd's Snapshot while it streams (src/api/grpc/snapshot.ts): a backup sealed to the backup recipient's public key, "
  + 'which no member can open; removed when the call ends and at every start';

/** Every file of a member's data dir that is not sealed, and why that is safe (docs/security.md). */
export const publicPaths: readonly PublicPath[] = [
  { path: 'audit/audit-*.log', why: "the audit log's records: Secret values digested under the audit HMAC key; integrity from the hash chain and signed checkpoints (src/audit/README.md)" },
  { path: 'snapshot-out/snapshot-*/backup.cbk', why: sealedToRecipient },
  { path: 'snapshot-out/snapshot-*/.backup.cbk.partial-*', why: sealedToRecipient },
  ...['CURRENT', 'LOCK', 'LOG', 'LOG.old', 'MANIFEST-*'].flatMap((name) => [
    { path: `mvcc/${name}`, why: levelDbHousekeeping },
    { path: `mvcc.incoming/${name}`, why: levelDbHousekeeping },
  ]),
];

/** Whether `relative` (a path inside the data dir, `/`-separated) matches `pattern`. */
export function matchesPath(pattern: string, relative: string): boolean {
  const expression = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*');
  return new RegExp(`^${expression}$`).test(relative);
}

/** The sealed area a data-dir file belongs to, 'public' for a declared public file, undefined for neither. */
export function classifyPath(relative: string): SealedArea | 'public' | undefined {
  if (publicPaths.some((p) => matchesPath(p.path, relative))) return 'public';
  return Object.values(sealedAreas).find((area) => area.paths.some((p) => matchesPath(p, relative)));
}
