/**
 * storage/keys — DEK and KEK rotation across everything a member seals: the MVCC store's pages (its
 * Reencrypter), the WAL (re-sealed in place), and the small sealed files their owners hand in
 * (crypto's SealedFile: the identity, the audit signing key); an old DEK is retired only once none of
 * them names it, durably. The admin API serves it (api/admin/keys.ts); the member wires it (src/server).
 * Invariant: nothing is ever sealed with a non-active DEK, so a count of zero for an old DEK stays zero.
 */
export { MemberKeys, type MemberKeysOptions, reencryptionPace } from './member-keys.ts';
export type { DekInfo, MemberKeysStatus, NewKek } from './status.ts';
