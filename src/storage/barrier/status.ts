/** What a member's key rotation reports (`coffer keys status`) and takes (a new KEK). */

export interface DekInfo {
  id: number;
  createdAt: string;
  active: boolean;
  /** MVCC records (revision pages and the meta record) sealed with it now, counted from their headers. */
  pages: number;
  /** WAL records (segments and snapshot files) sealed with it now. */
  walRecords: number;
  /** Other sealed files of the member (identity, audit signing key) sealed with it now. */
  files: number;
}

export interface MemberKeysStatus {
  member: string;
  kek: { source: string; description: string };
  activeDekId: number;
  deks: DekInfo[];
  /** DEKs this member retired, their keys gone from the keyring (the latest keyringRetiredDeksKept, across restarts). */
  retired: { id: number; retiredAt: string }[];
  reencryption: {
    running: boolean;
    targetDekId: number;
    pagesResealed: number;
    /** MVCC records still sealed with a DEK other than the active one. */
    pagesOnOlderDeks: number;
    /** While a pass runs: its pace so far, and the time the pages left would take at that pace. */
    pagesPerSecond?: number;
    secondsLeft?: number;
    startedAt?: string;
    finishedAt?: string;
    error?: string;
  };
}

export type NewKek = { passphrase: Uint8Array } | { unsealKey: Uint8Array };
