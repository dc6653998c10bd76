/**
 * storage/barrier — the one component between a member and its disk that holds the keyring, as Vault's
 * barrier (docs/architecture.md, "The barrier"): bytes in the clear never reach the data dir.
 *   - areas.ts declares the data dir: the sealed areas (the keyring file; the replica's WAL and store;
 *     the identity; the audit signing key), each with the files its owner writes and the page kinds it
 *     seals, and the files written in the clear on purpose (the audit log, LevelDB's housekeeping), each
 *     with its reason;
 *   - barrier.ts unseals the keyring and hands each area's owner a handle (crypto's Sealer) that seals
 *     only that area's kinds; whoever holds the Barrier, not the Keyring, seals only through handles;
 *   - member-keys.ts is the barrier's rotation: DEK rotation with re-encryption of every area (the
 *     store's pages by its Reencrypter, the WAL in place, the small sealed files), retirement of an old
 *     DEK once no area names it, durably, and KEK rotation. The admin API serves it (api/admin/keys.ts).
 * Invariant: nothing is ever sealed with a non-active DEK, so a count of zero for an old DEK stays zero.
 */
export { Barrier, type RotationParts } from './barrier.ts';
export { classifyPath, matchesPath, type PublicPath, publicPaths, type SealedArea, sealedAreas } from './areas.ts';
export { MemberKeys, type MemberKeysOptions, reencryptionPace } from './member-keys.ts';
export { Reencrypter, type ReencryptProgress, type ReencrypterOptions } from './reencrypt.ts';
export type { DekInfo, MemberKeysStatus, NewKek } from './status.ts';
