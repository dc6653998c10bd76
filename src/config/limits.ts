/**
 * Every limit Coffer enforces, as a named constant with its unit last in the name. A limit is checked
 * at the boundary where input enters, and a breach is a clear error naming the limit, never a crash.
 */

/** The largest Secret or ConfigMap object, as Kubernetes allows. */
export const objectBytesMax = 1024 * 1024;
/** The largest request body the client API reads (an object plus its envelope). */
export const requestBodyBytesMax = 1.5 * 1024 * 1024;
/**
 * The most pieces one request body may arrive in (HTTP/1.1 chunks or socket reads, HTTP/2 DATA frames);
 * one more is refused 413 (src/api/body-intake.ts). Each piece costs the member a parse and an event
 * whatever its size, so a body of one-byte chunks costs ~1.5 million of them. Clients send far fewer:
 * a full requestBodyBytesMax body in pieces of 96 bytes on average fits, where real ones come in TCP
 * segments (~1.4 KiB and up) or HTTP/2 frames (up to 16 KiB: at most 96 for such a body).
 */
export const requestBodyChunksMax = 16 * 1024;
/**
 * The first buffer a request body is gathered into (src/api/body-intake.ts), in bytes, unless its
 * Content-Length is smaller; it doubles as the body grows, up to the Content-Length or, without one
 * (HTTP/1.1 chunked, HTTP/2 without content-length), requestBodyBytesMax: what the body holds, and is
 * charged for, is at most twice what arrived. Small enough that a small body costs little.
 */
export const requestBodyGatherBytesMin = 4 * 1024;
/** The deepest JSON or YAML body the Kubernetes API reads, in levels of nested objects and arrays; deeper is 400 before anything recurses through it (Coffer's objects nest ~22: managedFields). */
export const requestBodyDepthMax = 64;
/** The longest object name (DNS-1123 subdomain). */
export const nameLengthMax = 253;
/** The longest namespace name (DNS-1123 label). */
export const namespaceLengthMax = 63;

/** The largest key in the KV store. */
export const keyBytesMax = 1536;
/** The largest value in the KV store: an object plus its stored metadata and versions. */
export const valueBytesMax = 1536 * 1024;
/**
 * The most compares, or operations of one branch, one transaction may carry (etcd's --max-txn-ops default).
 * As in etcd, a nested transaction gets what its enclosing ones leave: the widest of its compare, success
 * and failure lists, added up along the path from the outermost transaction, may not exceed it.
 */
export const txnOpsMax = 128;
/**
 * Levels of transactions one inside another, the outermost included (a transaction without nested ones
 * is 1 level). etcd has no such limit (its request size bounds nesting); Coffer refuses deeper requests
 * while decoding them, so a request can never recurse deeper than this through the API's checks.
 */
export const txnNestingLevelsMax = 16;
/**
 * Compares and operations one transaction carries in all, those of every nested transaction in both
 * branches counted. etcd's per-level rule (txnOpsMax) alone lets a request of a few hundred kilobytes hold
 * hundreds of thousands of reads, each run on every member's apply loop; this bounds that work. A flat
 * transaction at txnOpsMax (128 compares, 128 + 128 operations) is well below it.
 */
export const txnOpsTotalMax = 1024;
/**
 * Keys one compare over a key range (etcd's Compare.range_end) may hold at the time it is evaluated, on
 * every member's apply loop. etcd has no such limit; a compare over more keys is refused (E_LIMIT) and
 * the transaction changes nothing. A lock or election prefix holds a handful.
 */
export const compareRangeKeysMax = 10_000;
/** The most store watchers one member serves at once, its clients' and its own, in watchers. */
export const watchersMax = 10_000;
/**
 * Watchers of watchersMax that only the member's own watches (the RBAC policy holder's, one per RBAC
 * type: 4) may take, in watchers: a watch for a client is refused once watchersMax less these are open,
 * so clients holding every other watcher cannot keep the member from watching its policy again. As the
 * Kubernetes API server exempts its own requests from the limits clients share (APF's exempt level).
 */
export const memberWatchersReserved = 16;
/** The longest attribute of a self-review (`kubectl auth can-i`: verb, resource, namespace, path…), in UTF-16 code units. */
export const reviewAttributeLengthMax = 1024;

// ── Raft (src/raft) ────────────────────────────────────────────────────────────────────────────

/**
 * Bytes the Raft core charges per log entry on top of its payload when it sizes append messages, in-flight
 * windows and Ready batches (index, term and type as a codec would frame them), so empty entries count too.
 * The knobs themselves (electionTicks, maxMsgBytes, ...) are fields of the Raft Config.
 */
export const raftEntryOverheadBytes = 24;

// ── Files (src/durable) ────────────────────────────────────────────────────────────────────────

/**
 * Names a whole-file write tries for its new temporary file (src/durable/temp-file.ts) before it fails,
 * in attempts. Each name holds 64 random bits, so a name that exists was planted there: the write
 * gives up rather than keep guessing against whoever is filling the directory.
 */
export const tempFileAttemptsMax = 8;

// ── Crypto and WAL (src/crypto, src/storage/wal) ───────────────────────────────────────────────

/** Nonces drawn from node:crypto per randomFillSync call (one call per this many seals). */
export const nonceBatchCount = 1024;
/** The longest store id bound into a sealed page's additional data. */
export const storeIdBytesMax = 255;
/** argon2id memory for a passphrase KEK by default: 64 MiB (RFC 9106, second recommended option). */
export const argon2MemoryKiBDefault = 64 * 1024;
/** argon2id passes by default (RFC 9106, second recommended option). */
export const argon2TimeCostDefault = 3;
/** argon2id lanes by default (RFC 9106, second recommended option). */
export const argon2ParallelismDefault = 4;
/** The least argon2id memory a keyring may record; lower than the default only so tests stay fast. */
export const argon2MemoryKiBMin = 1024;
/** The most argon2id memory a keyring may record (a tampered record must not exhaust memory). */
export const argon2MemoryKiBMax = 4 * 1024 * 1024;
/** The most argon2id passes a keyring may record. */
export const argon2TimeCostMax = 64;
/** The most argon2id lanes a keyring may record. */
export const argon2ParallelismMax = 64;
/** The largest passphrase file read (unseal, a new KEK); `backupPassphraseFileBytesMax` for backups. */
export const passphraseFileBytesMax = 64 * 1024;
/** The largest keyring file a member reads. */
export const keyringFileBytesMax = 4 * 1024 * 1024;
/** The most DEKs one keyring holds (one per DEK rotation). */
export const dekCountMax = 10_000;
/** Retired DEKs the keyring remembers (id and time) for `coffer keys status`; older ones are forgotten. */
export const keyringRetiredDeksKept = 64;
/** How long a KMS plugin may take to answer one wrap or unwrap request. */
export const kmsRequestTimeoutMs = 10_000;
/** The longest line (one JSON message) exchanged with a KMS plugin. */
export const kmsMessageBytesMax = 64 * 1024;
/** A WAL segment is closed and a new one started once it reaches this size. */
export const walSegmentBytesTarget = 64 * 1024 * 1024;
/**
 * The open WAL segment is kept this many bytes (zeros) longer than its records, extended a step at a
 * time, so a synced append does not also make a new file size durable (src/durable/preallocate.ts).
 */
export const walPreallocateBytes = 1024 * 1024;
/** The largest sealed WAL record (a batch of entries is split into records of one entry each). */
export const walRecordBytesMax = 32 * 1024 * 1024;
/** The most records one group commit (one fdatasync) covers; later appends wait for the next. */
export const walFsyncBatchRecordsMax = 4096;
/** The most bytes of recent entries the WAL keeps decoded in memory for the Raft core. */
export const walEntryCacheBytesMax = 32 * 1024 * 1024;
/** Snapshot data is sealed in chunks of this size (each chunk its own page). */
export const walSnapshotChunkBytes = 1024 * 1024;
/** The largest snapshot the WAL stores (Raft hands a snapshot over as one byte array). */
export const walSnapshotBytesMax = 1024 * 1024 * 1024;
/** Re-sealing a WAL file after a DEK rotation yields to the event loop after this many bytes of records, so it never stalls ticks and I/O for long. */
export const walResealYieldBytes = 1024 * 1024;

// ── MVCC (src/storage/mvcc) ────────────────────────────────────────────────────────────────────

/** Events buffered for one watcher that is not reading; beyond it the watcher is cancelled as slow. */
export const watchBufferEventsMax = 4096;
/** Revisions read from disk in one step when a watcher replays history. */
export const watchReplayStepRevisionsMax = 512;
/**
 * Bytes of keys and values (previous values included) one replay step gathers: it stops at the end of
 * the revision that reaches this, so a step holds whole revisions, at least one.
 */
export const watchReplayStepBytesMax = 4 * 1024 * 1024;
/**
 * Bytes of keys and values (previous values included) one revision may hold for a watcher replaying it
 * (a delete of a large range, with prev_kv): past it the watcher is cancelled (E_LIMIT) rather than
 * every replaying watcher holding the whole revision. As large as the largest read (rangeResultBytesMax).
 */
export const watchReplayRevisionBytesMax = 64 * 1024 * 1024;
/**
 * Replay steps that read at once, member-wide (the others wait their turn, first come, first served):
 * what watchers starting in the past hold while they read is a few steps, not one per watcher.
 */
export const watchReplaysAtOnceMax = 4;
/**
 * Bytes of previous keys and values one batch of applied entries carries for watchers that asked for
 * them (prev_kv). Past it the batch carries no more, and those watchers read the batch's changes back
 * from disk a replay step at a time — a revision over watchReplayRevisionBytesMax cancelling them: a
 * delete of a large range while such a watcher is open does not hold every deleted value in memory on
 * every member.
 */
export const batchWatchPrevKvBytesMax = 64 * 1024 * 1024;
/** How often a watcher that asked for progress notifications hears the current revision when idle. */
export const watchProgressIntervalMs = 60_000;
/** Superseded revision pages deleted in one step of physical compaction (the store yields between steps). */
export const compactionStepKeysMax = 1000;
/**
 * Bytes of keys and values one request may read: a range, or every read of one transaction together (the
 * ranges of each branch that runs and the pages compares read, nested transactions included), counted as
 * each page opens (src/storage/mvcc/read-budget.ts), and the previous values a delete with prev_kv returns.
 * Past it the request is refused (E_LIMIT) at that page; a larger range must be paged with `limit`.
 */
export const rangeResultBytesMax = 64 * 1024 * 1024;
/** Records written in one batch while importing a snapshot. */
export const snapshotImportBatchRecordsMax = 1000;
/**
 * Bytes of sealed revision pages a store keeps in memory (page-cache.ts): ciphertext, least recently
 * used out first. 32 MiB holds ~100,000 pages of a 256-byte value.
 */
export const pageCacheBytesMax = 32 * 1024 * 1024;
/**
 * A running store writes its index checkpoint again (src/storage/mvcc/checkpointer.ts) once an open
 * after a crash would have to open this many pages written since the last one, or more…
 */
export const indexCheckpointReplayPagesMin = 10_000;
/** …and at least this share of its keys: building a checkpoint walks every key, so it is paid for by the pages it spares. */
export const indexCheckpointReplayKeysShare = 0.5;

// ── Key rotation (src/storage/barrier/reencrypt.ts and member-keys.ts, coffer keys) ───────────────────

/** Pages the background re-encrypter re-seals per second at most (it sleeps between batches to keep to it). */
export const reencryptPagesPerSecondMax = 5000;
/** Pages re-sealed in one batch: one LevelDB write holding the store's write queue for that long. */
export const reencryptBatchPagesMax = 250;
/** Pages whose headers one batch reads at most while looking for pages on older DEKs. */
export const reencryptScanPagesMax = 4000;
/** How often a member with a DEK waiting for retirement checks again whether anything still uses it. */
export const dekRetireCheckIntervalMs = 30_000;
/**
 * How long a retirement check waits, at each pass of its purge of LevelDB's files (src/storage/mvcc/purge.ts),
 * for the reads of the store open then (a range, a watch replay, a snapshot stream, a backup being
 * written) to end: their LevelDB snapshots keep the versions sealed with the old DEK. A check they
 * outlast retires nothing; the next one, dekRetireCheckIntervalMs later, tries again.
 */
export const dekRetireReadersWaitMs = 10_000;
/** Tables whose first record one batch of a purge writes again (one LevelDB write in the store's write queue; a record is at most valueBytesMax and a page header). */
export const purgeTouchBatchKeysMax = 100;
/**
 * Passes a purge makes at most. A pass is repeated only when a background compaction of LevelDB's moved
 * tables below the pass's deepest level (at most once per level: LevelDB has 7) or a table outlived it.
 */
export const purgePassesMax = 8;
/** How long `coffer keys` waits for one member's answer (status counts pages; rotate-kek runs argon2id). */
export const keysRequestTimeoutMs = 60_000;

// ── Peer transport (src/transport) ─────────────────────────────────────────────────────────────

/** The largest frame a member accepts from a peer: a batch of Raft entries or one snapshot chunk. */
export const frameBytesMax = 16 * 1024 * 1024;
/** Encoded frames queued for one peer (while dialing or while its socket is slow) before new ones are dropped. */
export const peerQueueBytesMax = 64 * 1024 * 1024;
/** The first wait before redialing a peer; doubles per failed attempt up to peerDialBackoffMaxMs. */
export const peerDialBackoffMinMs = 50;
/** The longest wait between dials of an unreachable peer. */
export const peerDialBackoffMaxMs = 2_000;
/**
 * How long a connection to a peer must last to prove the peer takes it: its loss is then redialed after
 * the shortest wait. A shorter one counts as a failed dial, so a peer that refuses each connection after
 * the handshake (another cluster's member, a removed member) is redialed with backoff, not at once.
 */
export const peerConnectionStableMs = 1_000;
/** A snapshot's data crosses the wire in chunks of this size, each its own frame. */
export const snapshotChunkBytes = 1024 * 1024;
/** The largest snapshot a member accepts from a peer (the whole store's logical records). */
export const snapshotBytesMax = 4 * 1024 * 1024 * 1024;
/** How long an accepted peer connection may take to send its hello frame. */
export const peerHelloTimeoutMs = 5_000;

// ── Replication (src/replication) ──────────────────────────────────────────────────────────────

/** One Raft tick: heartbeats every tick, elections after 10–20 ticks (1–2 s), as etcd's defaults. */
export const tickMsDefault = 100;
/** How long a write waits to be applied before its caller hears "outcome unknown". */
export const proposalTimeoutMsDefault = 7_000;
/** A ReadIndex round with no answer after this long is asked again with a fresh context. */
export const readIndexRetryMs = 500;
/** How long one attempt to record a member's URLs may wait to be applied before it is tried again. */
export const publishTimeoutMs = 2_000;
/** How long a member waits before trying again to record its URLs in the member table. */
export const publishRetryMs = 1_000;
/**
 * How long the store keeps history (`historyRetentionMs` in the server config): every this often the
 * leader compacts to the revision that was current one interval earlier, as the Kubernetes API server
 * compacts etcd every 5 minutes. A read or watch at an older resourceVersion is refused (410 Gone).
 * docs/security.md, "History retention".
 */
export const historyRetentionMsDefault = 5 * 60_000;
/**
 * The size of a member's store files past which it raises its NOSPACE alarm (`--quota-backend-bytes`,
 * etcd's flag and default), in bytes; `quotaBackendBytesMin` the smallest accepted.
 */
export const quotaBackendBytesDefault = 2 * 1024 ** 3;
export const quotaBackendBytesMin = 64 * 1024;
/** How often a member measures its store files against the quota, in milliseconds. */
export const quotaCheckIntervalMs = 1_000;
/** The shortest history retention accepted: clients that reconnect a watch after a short outage must still find their resourceVersion. */
export const historyRetentionMsMin = 60_000;
/** The longest history retention accepted: every past value of every Secret stays readable for that long. */
export const historyRetentionMsMax = 7 * 24 * 3_600_000;
/** Entries applied between two compactions of the WAL (default of --snapshot-count, as etcd's). */
export const snapshotEveryEntries = 10_000;
/** Entries kept in the WAL behind the applied index, so a briefly lagging follower needs no snapshot (default of --snapshot-catch-up-entries). */
export const snapshotCatchUpEntries = 5_000;
/** The most --snapshot-count and --snapshot-catch-up-entries may say, in entries. */
export const snapshotEntriesMax = 10_000_000;

// ── Leases (src/storage/mvcc/lease-table.ts, src/replication/lessor.ts) ───────────────────────

/** The longest lease a grant may ask for, in seconds (etcd's MaxLeaseTTL); longer is refused. */
export const leaseTtlSecondsMax = 9_000_000_000;
/**
 * The shortest lease, in election timeouts: a grant asking for less gets ceil(1.5 election timeouts)
 * seconds (2 s with the default ticks), as etcd raises it, so a lease outlives a leader change.
 */
export const leaseTtlMinElectionTimeouts = 1.5;
/** Leases the store holds at once; a grant beyond is refused (bounds the lessor's work and each checkpoint). */
export const leasesMax = 10_000;
/**
 * Leases one user (the lease's owner: the caller that granted it) holds at once; a grant beyond is
 * refused, so one identity cannot use up leasesMax for everyone (docs/security.md, "Leases").
 */
export const leasesPerOwnerMax = 1_000;
/**
 * The longest owner name a lease records, in UTF-8 bytes (a Kubernetes service account's user name is at
 * most ~340); a lease request by a longer user name (an impersonated one: a certificate's CN is at most
 * 64) is refused with this limit's name.
 */
export const leaseOwnerBytesMax = 1024;
/** Keys attached to one lease; a put beyond is refused (its revoke deletes them all in one revision). */
export const leaseKeysMax = 10_000;
/**
 * How often the leader checkpoints every lease's remaining TTL through Raft, in election timeouts
 * (every 500 ms with the default ticks): half an election timeout, so with a commit under the other
 * half, a leader change moves no lease's end by more than one election timeout (docs/architecture.md, "Leases").
 */
export const leaseCheckpointIntervalElectionTimeouts = 0.5;
/** Leases in one checkpoint proposal (etcd's batch); more leases take more proposals of a checkpoint round. */
export const leaseCheckpointBatchMax = 1_000;
/** Expired leases the leader proposes to revoke per second (etcd's leaseRevokeRate); the rest wait for the next tick. */
export const leaseRevokesPerSecondMax = 1_000;

// ── Health and failure handling (src/api/health.ts, src/server/member.ts) ─────────────────────

/** How long /readyz waits for its linearizable barrier (a ReadIndex round, then applying up to it) before it answers 503. */
export const readyzReadTimeoutMs = 2_000;
/**
 * How long a member that cannot go on (its replica fail-stopped on a WAL or store failure, or it was
 * removed from the cluster) keeps answering /livez, /readyz, status and /metrics with the reason before
 * its process exits, so probes, scrapes and `coffer status` see why. Setting `exitGraceMs`.
 */
export const exitGraceMsDefault = 30_000;
/**
 * The longest a member takes to stop after SIGTERM or SIGINT: watch streams are ended at once,
 * in-flight requests finish, and the store writes its index checkpoint (about 2 – 3 s per million keys
 * on a 2-core VM, docs/performance.md); if the orderly stop has not finished by then (a request or a
 * disk that does not answer), the member logs what it was doing and exits with code 1
 * (docs/operations.md). Kubernetes' default termination grace period.
 */
export const memberStopMsMax = 30_000;
/**
 * How long a leader stopping gracefully waits for another voter to take over (Replica.handOffLeadership)
 * before it stops anyway: a transfer takes one round trip once the voter is caught up, and Raft gives it
 * up after an election timeout (2 s at most with the default ticks).
 */
export const leaderHandOffMsMax = 3_000;

// ── PKI and TLS (src/pki) ──────────────────────────────────────────────────────────────────────

/** Default validity of member and client certificates (`--days`). */
export const certValidityDaysDefault = 365;
/** Default validity of the CA certificate (`coffer ca init --days`; bootstrap-ca uses this or its --days if longer). */
export const caValidityDaysDefault = 3650;
/** The longest validity any certificate may be issued with. */
export const certValidityDaysMax = 3650 * 3;
/** How far notBefore is set back from "now", so members whose clocks lag a little accept new certs. */
export const certBackdateMs = 5 * 60 * 1000;
/** Random bytes in a certificate serial (128 bits; encoded positive). */
export const certSerialBytes = 16;
/** The most DNS/IP names one member certificate may carry. */
export const certHostsMax = 64;
/** The most groups (O values) one client certificate may carry. */
export const certGroupsMax = 32;
/** The longest user, group or member name put into a certificate. */
export const certNameLengthMax = 128;
/** Random bytes in a generated PKCS#12 password (base64url-encoded, so 24 characters). */
export const p12PasswordBytes = 18;
/** PBKDF2 / PKCS#12-KDF iterations protecting a .p12 file's key and MAC. */
export const p12KdfIterations = 10_000;
/**
 * PBKDF2-HMAC-SHA256 iterations protecting ca.key when COFFER_CA_PASSPHRASE encrypts it (PBES2 with
 * AES-256-CBC): OWASP's 2023 figure for PBKDF2-HMAC-SHA256. Measured on the development machine (node
 * 20, one core of a shared 2-core AMD EPYC): one derivation 120-180 ms, loading ca.key 185 ms — paid once
 * by each `coffer ca` command that writes or loads the key, and by every guess at the passphrase (at
 * OpenSSL's default of 2,048, which ca.key had before, a guess cost 0.6 ms; such a key still loads, as
 * the count is read from the file).
 */
export const caKeyPbkdf2Iterations = 600_000;
/**
 * How long a connection to either listener may take to complete its TLS handshake before it is closed
 * (node's default is two minutes; a connection that never sends its hello holds a socket meanwhile).
 */
export const tlsHandshakeTimeoutMs = 10_000;
/** Quiet period after the last file event before TLS material is reloaded (a rotation writes several files). */
export const tlsReloadDebounceMs = 100;
/**
 * How often the certificates of open connections are checked for expiry between two reloads (a reload
 * checks them against the new CRL at once); a connection whose certificate expired is closed. A member
 * watching its TLS files also reads them again at this period and reloads those that changed, so a
 * change no file event reported (a network volume) takes effect within it.
 */
export const tlsHeldCertificateCheckIntervalMs = 60_000;
/** The largest certificate, key or CRL file the PKI reads. */
export const pkiFileBytesMax = 1024 * 1024;
/**
 * How long a `coffer ca` command waits for the CA directory's lock (ca.lock) while a running process
 * holds it, before it gives up with CA_LOCKED. The lock is held for one init, issue or revoke: well
 * under a second each, a few on a slow disk.
 */
export const caLockWaitMs = 30_000;
/** How often a command waiting for ca.lock looks at it again. */
export const caLockPollMs = 25;

// ── Client listener (src/server/client-listener.ts) ───────────────────────────────────────────────
// How long a client may take on the client port, so slow clients cannot hold sockets forever
// (docs/security.md, "Slow clients"). Watch streams are not bounded by these: once a request has been
// received, a streamed response may last as long as it needs; an answer sent whole is bounded by
// apiAnswerTimeoutMs and heldBytesPerUserMax (src/api/unread-answers.ts).

/** A request's headers must be complete this long after its first byte (after the handshake, for a connection's first request); else 408 and closed. */
export const apiHeadersTimeoutMs = 10_000;
/** A request, body included, must be received within this long; else 408 and closed. */
export const apiRequestTimeoutMs = 60_000;
/**
 * A keep-alive connection idle this long between two requests is closed (and every answer says so:
 * `Keep-Alive: timeout=90`). As the Kubernetes API server's: Go's HTTP clients (kubectl, client-go)
 * ignore that hint and drop an idle connection after 90 s themselves, so a server closing one sooner
 * could take a request they send on it at that moment — and lose it after sending.
 */
export const apiKeepAliveTimeoutMs = 90_000;
/** How often the listener checks its connections against the header and request timeouts (node's default is 30 s). */
export const apiTimeoutCheckIntervalMs = 1_000;
/**
 * Requests one HTTP/1.1 connection may have served at once (pipelined: sent before the answers to the
 * ones before). One beyond is refused 429 (recorded) and the connection is read no further until one of
 * its requests ends; at twice this many in flight the connection is closed.
 */
export const apiPipelinedRequestsMax = 16;
/**
 * An answer sent whole (not a stream: a watch or a snapshot has its own flow control) must be taken by
 * the client within this long of being sent; else its HTTP/2 stream is cancelled, or its HTTP/1.1
 * connection closed, and the member lets go of it. The Kubernetes API server's request timeout bounds
 * its answers the same way (its handler writes the answer within it).
 */
export const apiAnswerTimeoutMs = 60_000;
/**
 * The bytes one user's requests may make the member hold at once, on all its connections together: the
 * bodies of its requests in flight, what its reads in flight have read so far and its answers (sent
 * whole) that its clients have not yet taken (src/api/held-bytes.ts). Past it its requests are refused
 * 429 until the answers are taken (or dropped by apiAnswerTimeoutMs) and the requests done: twice the
 * largest answer a read gives (rangeResultBytesMax).
 */
export const heldBytesPerUserMax = 2 * rangeResultBytesMax;
/**
 * Client certificates whose identity the API keeps worked out (certificates; the oldest out first): a
 * reconnecting client's identity is not parsed again from its certificate's DER (~0.3 ms each).
 */
export const clientIdentitiesCachedMax = 1024;

// ── Connections and open files (src/server/connection-guard.ts, src/server/open-files.ts) ─────
// A connection holds a file descriptor; a member out of them cannot open its own files (the WAL's next
// segment, the audit log, LevelDB's tables) any more than accept a client. Anyone who can reach a port
// can open connections, no certificate needed until the handshake ends, so both listeners bound what
// they hold (docs/security.md, "Connections").

/**
 * Connections one listener holds whose TLS handshake has not finished, from all addresses together. One
 * more and the oldest of them is closed: a client's handshake takes milliseconds, so under a flood of
 * connections that never finish theirs it is the flood's that are closed, not a client's new one.
 */
export const handshakesPendingMax = 1024;
/**
 * As handshakesPendingMax, from one source address (one IPv4 address, one IPv6 /64 network). Many
 * clients may share an address (a NAT, a node's pods, the bench's 256 connections opened at once), so
 * this is a burst's worth, not one client's.
 */
export const handshakesPendingPerAddressMax = 256;
/**
 * Connections the kernel queues for a listener until the member takes them (at most net.core.somaxconn;
 * node's default is 511). One that finds the queue full waits for its client to send its SYN again, a
 * second or more later: a burst of connections, a flood's or many clients' at once, passes this queue.
 */
export const listenBacklog = 4096;
/**
 * Lines of one kind that anyone who can reach a port can cause (a client certificate refused, a peer
 * connection refused) the member logs per refusalLogWindowMs; the rest are counted in one line.
 */
export const refusalLogLinesMax = 10;
/** The window of refusalLogLinesMax. */
export const refusalLogWindowMs = 10_000;
/** Connections the peer listener holds at once: members dial each other once (a reconnect may overlap). */
export const peerConnectionsMax = 64;
/** Connections one member certificate may hold on the peer port (a member dials once; a redial may overlap). */
export const peerConnectionsPerCertificateMax = 4;
/** Files LevelDB keeps open at once (its table cache; LevelDB's own default), passed to it by name. */
export const storeOpenFilesMax = 1000;
/**
 * File descriptors a member keeps for its own use beyond LevelDB's tables and the peer connections: the
 * WAL's segments, the audit log's files, the keyring, certificate watches, libuv and stdio.
 */
export const memberOwnFilesReserve = 256;
/**
 * Connections the client port holds at once, however high the open-file limit: beyond it a new
 * connection is closed as it is accepted. Below the open-file limit less what the member keeps for its
 * files (storeOpenFilesMax + peerConnectionsMax + memberOwnFilesReserve), the port holds fewer.
 */
export const clientConnectionsMax = 8192;
/**
 * The share of the client port's connections one certificate's may hold, in percent: past it that
 * certificate's new connection is closed, so that no holder of a certificate (a leaked one, a client gone
 * wrong) fills the port for everyone else. A quarter of 8,192 is far beyond what a client needs (the bench
 * opens up to 512).
 */
export const clientConnectionsPerCertificatePercent = 25;
/** The fewest connections the client port holds, however low the open-file limit (the member warns at start then). */
export const clientConnectionsMin = 64;

// ── KV client (src/client) ─────────────────────────────────────────────────────────────────────

/** Default time one KV request may take, from first connect to last response byte. */
export const clientRequestTimeoutMsDefault = 5_000;
/** Default time allowed to open a TLS connection to one endpoint before trying the next. */
export const clientConnectTimeoutMsDefault = 2_000;
/** The largest response body the client reads; a larger one fails with BAD_RESPONSE. */
export const clientResponseBytesMax = 64 * 1024 * 1024;
/** Keep-alive sockets the client keeps open per endpoint (the bench's concurrency needs many). */
export const clientSocketsPerEndpointMax = 512;
/**
 * A keep-alive connection the client holds idle this long is closed by the client. A server's shorter
 * `Keep-Alive: timeout=N` hint wins (node's agent closes the socket a second before N seconds), so the
 * client does not send a request on a connection the server is closing (src/client/agent.ts).
 */
export const clientIdleSocketTimeoutMs = 60_000;
/** How long `coffer status` waits for each member's answer before it shows the member as unreachable. */
export const statusRequestTimeoutMs = 3_000;
/** `coffer status` warns this many days before a member's certificate expires. */
export const certificateWarningDays = 30;

// ── Kubernetes client and its CLI commands (src/client/k8s-client.ts, coffer secret|configmap|…) ──

/** Objects asked for per page when the client lists a collection (kubectl's chunk size). */
export const k8sListPageItems = 500;
/** Pages one list may take before the client gives up (a continue token that never ends is a server bug). */
export const k8sListPagesMax = 10_000;
/** The longest line of a watch stream (one event: an object of at most objectBytesMax as JSON, base64 included). */
export const k8sWatchLineBytesMax = 4 * 1024 * 1024;
/** The largest file `--from-file` reads (a Secret or ConfigMap cannot hold more in total). */
export const cliFromFileBytesMax = objectBytesMax;

// ── Audit (src/audit) ──────────────────────────────────────────────────────────────────────────

/** An audit file is closed and the next one started once the next record would take it past this size. */
export const auditFileBytesTarget = 16 * 1024 * 1024;
/**
 * Retention by size: at a rotation the oldest audit files are deleted (the cut is recorded in the chain)
 * while all kept files together exceed this. Opening verifies what is kept, so this also bounds a
 * member's start (about 40 000 records a second). Setting `auditRetentionBytesMax`.
 */
export const auditRetentionBytesMaxDefault = 160 * 1024 * 1024;
/** Retention by age: files whose newest record is older than this are deleted. Setting `auditRetentionAgeMsMax`. */
export const auditRetentionAgeMsMaxDefault = 90 * 24 * 3_600_000;
/**
 * The minimum retention: records younger than this are the history an operator counts on. Deleting a
 * file that holds one (the size limit forces it) is logged and counted before the file goes, and the
 * member warns earlier, once the log reaches auditRetentionWarnPercent of the size limit while its oldest
 * file is still this young. Setting `auditRetentionAgeMsMin`.
 */
export const auditRetentionAgeMsMinDefault = 24 * 3_600_000;
/** Share of auditRetentionBytesMax at which young history counts as at risk (see auditRetentionAgeMsMinDefault). */
export const auditRetentionWarnPercent = 75;
/** The longest audit line; an event that would exceed it is written without its request/response bodies. */
export const auditRecordBytesMax = 256 * 1024;
/**
 * Values one audit record digests at most (src/audit/event.ts), in digests: each takes at least 111 bytes
 * of the line (`"hmac-sha256:<32 hex>:<64 hex>",`), so a record needing more could never fit in
 * auditRecordBytesMax; such a body is left out before any digest is computed.
 */
export const auditRecordDigestsMax = Math.floor(auditRecordBytesMax / 111);
/**
 * Bytes kept free under auditRecordBytesMax when a write's record is shaped to travel in its Raft entry:
 * the chain fields each member adds when it appends the record (seq, prevHash, hash, entry).
 */
export const auditChainFieldsBytesMax = 512;
/**
 * Raft entries a member's audit log may take without a line saying how far it got (then a checkpoint
 * is written): WAL compaction waits behind the last durable such line (src/replication/audit-records.ts).
 */
export const auditEntriesUnmarkedMax = 1000;
/** Records between two signed checkpoints (a checkpoint is also written every auditCheckpointIntervalMs). */
export const auditCheckpointEveryEvents = 1000;
/** The longest time records stay without a signed checkpoint covering them. */
export const auditCheckpointIntervalMs = 60_000;
/**
 * Retention by age judges a file's age by the cluster's time, not the member's clock alone: at most
 * this long past the cluster's time (the lower median of the members' newest replicated checkpoint
 * times, src/server/cluster-time.ts). In ms. It covers how far that time trails a busy cluster's real
 * time — a checkpoint every auditCheckpointIntervalMs, the member rereads them every
 * auditCheckpointIntervalMs, replication between — with one more interval to spare, plus two minutes
 * for members' clocks being a little apart. A member's clock further ahead than this ages nothing
 * beyond it; an idle cluster's time stands still until members record again (deletion by age waits).
 */
export const auditClusterTimeAllowanceMs = 3 * auditCheckpointIntervalMs + 2 * 60_000;
/** The member logs at most one line per this window (ms) while its clock is ahead of the cluster's time and retention by age holds files back. */
export const auditClockAheadLogWindowMs = 3_600_000;
/** The most audit records one group commit (one fdatasync) covers; later records wait for the next. */
export const auditFsyncBatchRecordsMax = 4096;
/**
 * The longest an audit record nobody waits for (a request's ResponseComplete, its answer already
 * decided) stays unsynced when no other record comes to share its fdatasync.
 */
export const auditDeferredFlushMs = 50;
/** Events an audit query returns when it names no limit. */
export const auditQueryLimitDefault = 500;
/** The most events one audit query may return. */
export const auditQueryLimitMax = 10_000;
/**
 * Bytes of events (as their log lines) one member returns for one audit query: past it the oldest
 * matches are left out and the member's part of the answer says `truncated`.
 */
export const auditQueryMemberBytesMax = 8 * 1024 * 1024;
/** Bytes an audit query reads from a file at a time (a query never holds a whole file). */
export const auditQueryReadChunkBytes = 1024 * 1024;
/** The largest audit policy file read. */
export const auditPolicyBytesMax = 1024 * 1024;
/** The shortest per-cluster audit HMAC key accepted (256 bits). */
export const auditHmacKeyBytesMin = 32;
/**
 * The most characters of a request target recorded for a request node refused before routing (a bad
 * request line or header, a timeout: src/api/client-error.ts); the rest is left out.
 */
export const auditRefusedTargetCharsMax = 256;
/** The deepest request/response body an audit event records; a deeper one is left out (and the event says so). */
export const auditBodyDepthMax = 32;

// Caps on what a caller controls in an audit event, so one request cannot write a large record (a
// flood of them would push history out). A longer value is cut at a character boundary and the event's
// coffer.dev/truncated annotation names the field and its original size.

/** The longest User-Agent recorded, in bytes of UTF-8. */
export const auditUserAgentBytesMax = 256;
/** The longest requestURI (path and query) recorded, in bytes. */
export const auditRequestUriBytesMax = 2048;
/** The longest user name recorded, in bytes. */
export const auditUserNameBytesMax = 256;
/** The most groups recorded for one user; further ones are left out (and counted in the annotation). */
export const auditGroupsMax = 32;
/** The longest group name recorded, in bytes. */
export const auditGroupNameBytesMax = 256;
/** The longest objectRef field (resource, namespace, name, apiGroup, apiVersion, subresource) recorded, in bytes. */
export const auditObjectRefFieldBytesMax = 256;
/** The longest reason or message recorded (decision reason, response status reason and message, other annotations), in bytes. */
export const auditReasonBytesMax = 1024;
/** The most source IPs recorded for one request. */
export const auditSourceIpsMax = 8;
/** The longest source IP recorded, in bytes (an IPv6 address with a zone fits). */
export const auditSourceIpBytesMax = 64;
/** How long a member waits for another member's answer to an audit query or verify before reporting it unreachable. */
export const auditPeerRequestTimeoutMs = 10_000;
/** The largest answer read from another member for an audit query (auditQueryLimitMax events fit). */
export const auditPeerResponseBytesMax = 64 * 1024 * 1024;
/** Replicated checkpoints kept per member in the store: older ones are deleted when a newer one is put. */
export const auditReplicatedCheckpointsKept = 4;
/** Bytes of the per-cluster audit HMAC key created at a cluster's first start. */
export const auditHmacKeyBytes = 32;
/** First delay before retrying to open the audit log (the HMAC key needs a leader); doubles up to auditOpenRetryMsMax. */
export const auditOpenRetryMs = 50;
export const auditOpenRetryMsMax = 2_000;
/** First delay before a failed audit sink (disk full, I/O error) is tried again with a fresh file; doubles up to auditSinkRetryMsMax. */
export const auditSinkRetryMs = 100;
/** The longest wait between two attempts to bring a failed audit sink back. */
export const auditSinkRetryMsMax = 5_000;
/** How long `coffer audit query|verify` waits for a member's answer (it asks every other member in turn). */
export const auditCliRequestTimeoutMs = 30_000;
/** How long a stopping member waits for its final audit checkpoint to be replicated. */
export const auditStopReplicationWaitMs = 2_000;

// ── RBAC (src/rbac, policies/) ─────────────────────────────────────────────────────────────────

/** The most rules one Role or ClusterRole may hold. */
export const rbacRulesMax = 256;
/**
 * How long the RBAC policy waits before reading the store again after a read or a watch failed (the store
 * closed while a snapshot install replaces it, a revision compacted meanwhile), in milliseconds; doubled
 * after each failure in a row, up to rbacReloadRetryMsMax.
 */
export const rbacRewatchRetryMs = 100;
/** The longest wait between two attempts to bring the RBAC policy up to the store, in milliseconds. */
export const rbacReloadRetryMsMax = 1_000;
/**
 * How long an RBAC write waits for this member's policy to include it before it is answered anyway, in
 * milliseconds. The write is stored either way: the answer is its success, with a Kubernetes `Warning`
 * header saying the change is not in force on this member yet (/readyz tells why). Normally it is a few
 * milliseconds (the policy reads only the objects that changed).
 */
export const rbacPolicyWaitMs = 3_000;
/**
 * Bytes of RBAC objects (Roles, ClusterRoles and their bindings; key and value as the store counts
 * them) past which a create, update, patch or apply that grows them is refused, 413 before anything is
 * stored, for every caller outside system:masters. Every member holds them all, parsed and compiled, in
 * memory (about 2–3 times their bytes), and compiles its index of bindings again on each change
 * (measured ~2.5 ms per MiB of bindings with many subjects, synchronously). Kubernetes has no such limit
 * beyond etcd's; 64 MiB is some 20,000 objects of 3 KiB. Checked against the policy this member holds,
 * so writes racing one another may pass it by their own sizes.
 */
export const rbacObjectsBytesMax = 64 * 1024 * 1024;
/** The most values one list of a rule may hold (verbs, apiGroups, resources, resourceNames, nonResourceURLs). */
export const rbacRuleValuesMax = 256;
/** The most subjects one RoleBinding or ClusterRoleBinding may name. */
export const rbacSubjectsMax = 1024;
/** The longest single string in an RBAC object (a verb, resource, name, subject or URL). */
export const rbacStringLengthMax = 1024;
/** The largest policy YAML file `coffer policy apply` and the first start read. */
export const policyFileBytesMax = 1024 * 1024;
/** The most YAML documents read from one policy file or directory. */
export const policyDocumentsMax = 4096;
/** The most single permissions (verb × group × resource × name) the escalation check compares for one write. */
export const rbacEscalationChecksMax = 100_000;
/**
 * The most rules (resource and non-resource rules together) one SelfSubjectRulesReview answer lists. Each
 * distinct role in scope is listed once however many bindings grant it; past this the answer is cut and
 * says `incomplete: true` with an `evaluationError` naming this limit (as Kubernetes does when it cannot
 * list everything). 32 roles of rbacRulesMax rules.
 */
export const rbacRulesReviewRulesMax = 8192;
/**
 * The most bytes of rules one SelfSubjectRulesReview answer lists (each rule counted as its UTF-8 JSON);
 * past this the answer is cut as for rbacRulesReviewRulesMax. One Role may hold about 1 MiB of rules.
 */
export const rbacRulesReviewBytesMax = 4 * 1024 * 1024;

// ── Registry and Kubernetes API (src/registry, src/api/k8s) ────────────────────────────────────

/** The longest label value and the name part of a label or annotation key (Kubernetes' qualified name). */
export const labelValueLengthMax = 63;
/** The most bytes all annotations of one object may take together (as Kubernetes). */
export const annotationsBytesMax = 256 * 1024;
/** Entries an object's maps hold together (labels, annotations, Secret data with stringData, ConfigMap data and binaryData), in entries: Kubernetes bounds only their bytes, but every entry costs each write of the object work of its own (field ownership, audit digests), and no real workload comes near. */
export const objectMapEntriesMax = 10_000;
/** The most finalizers one object may carry. */
export const finalizersMax = 32;
/** The most owner references one object may carry. */
export const ownerReferencesMax = 32;
/**
 * The longest DNS-1035 label, in characters: the version of an API version, and a kind once lowercased (as
 * Kubernetes requires of a CustomResourceDefinition's versions and kind). Kubernetes bounds neither in an
 * owner reference, only the whole object; Coffer bounds every field of one (object.ts), so a reference cannot
 * pad an object to a size limit.
 */
export const dns1035LabelLengthMax = 63;
/** The longest apiVersion an owner reference may name, in characters: a group (a DNS-1123 subdomain, nameLengthMax), "/" and a version. */
export const apiVersionLengthMax = nameLengthMax + 1 + dns1035LabelLengthMax;
/** The longest uid an owner reference or a delete's uid precondition may give, in characters (Coffer's uids are 36: a UUID). */
export const uidLengthMax = 128;
/** Characters of a generateName kept before the random suffix (Kubernetes: 63 - 5), so the name stays a valid label. */
export const generatedNamePrefixMax = 58;
/** Random characters appended to a generateName. */
export const generatedNameSuffixLength = 5;
/** Names a create with generateName tries before it answers AlreadyExists (as the Kubernetes API server 1.32 retries). */
export const generateNameAttemptsMax = 8;
/** Objects one transaction deletes while a namespace is emptied (each takes a compare and up to two operations, under txnOpsMax). */
export const namespaceDeleteBatchObjects = 40;
/** Objects one list page returns when the request names no limit (0 in Kubernetes means "all"; Coffer bounds it). */
export const listPageItemsMax = 10_000;
/**
 * Bytes of stored objects one list page holds (key and value, as the store counts them; what the answer
 * shows of them is about as large), in bytes: the page ends before an object that would take it over,
 * with a `continue` token — a page always holds at least one object, so it may reach one object of
 * valueBytesMax. A request with `limit` gets such a page; one without is answered whole, written a page at
 * a time as the pages are read, and a watch's initial events are read and sent a page at a time. So one
 * list or watch holds about one page at once, and encoding a page blocks the member for milliseconds
 * (4 MiB of JSON: ~10 ms), not seconds. 4 MiB holds two of the largest objects, and kubectl's pages of
 * 500 objects whenever they average under ~8 KiB.
 */
export const listPageBytesMax = 4 * 1024 * 1024;
/** Keys read from the store per step while a list fills its page (40 of the largest values stay under rangeResultBytesMax). */
export const listScanStepKeys = 40;
/** The longest `continue` token accepted. */
export const continueTokenBytesMax = 4096;
/** The longest label or field selector accepted. */
export const selectorLengthMax = 4096;
/** Attempts of an update or patch without a resourceVersion that keeps losing the compare-and-swap race. */
export const updateRetriesMax = 5;
/** Operations one JSON patch may hold, in operations, as Kubernetes (maxJSONPatchOperations); more are 413 before any is applied. */
export const jsonPatchOperationsMax = 10_000;
/** Array elements one JSON patch's inserts and removals may move, in elements (one at index i of n moves n − i; a few ms in all); more is 413. Every operation fits on Coffer's largest arrays. */
export const jsonPatchArrayShiftsMax = rbacSubjectsMax * jsonPatchOperationsMax;
/** How often a watch stream that asked for bookmarks hears the current resourceVersion when idle. */
export const watchBookmarkIntervalMs = 5_000;
/**
 * What a list asking for a resourceVersion newer than the store tells its client to wait before asking
 * again (504 Timeout's `retryAfterSeconds`, as the Kubernetes API server says for "Too large resource
 * version"), in seconds: the list is answered after a linearizable read, so the revision was not yet
 * committed anywhere.
 */
export const listTooLargeRetryAfterSeconds = 1;
/**
 * How long a watch sending its initial events (resourceVersion 0, sendInitialEvents) waits for its client
 * to read what it holds unsent once that is over watchUnsentBytesMax, in milliseconds; a client that has
 * not read it all by then is ended as too slow, as a live watch that falls behind is. Paused, the watch
 * holds one list page (listPageBytesMax) and its unsent bytes.
 */
export const watchInitialDrainWaitMs = 30_000;
/** The first wait before a member retries the first-start bootstrap (namespaces, default RBAC); doubles up to bootstrapRetryMsMax. */
export const bootstrapRetryMs = 100;
/** The longest wait between two attempts of the first-start bootstrap. */
export const bootstrapRetryMsMax = 2_000;

// ── Server-side apply and managedFields (src/registry/managed-fields) ─────────────────────────

/** The longest field manager name (`?fieldManager=`, or the User-Agent's prefix), in characters, as Kubernetes. */
export const fieldManagerLengthMax = 128;
/** Update managers an object keeps; older ones are merged into `ancient-changes`, as Kubernetes (10). */
export const managedFieldsUpdateManagersMax = 10;
/** Apply managers an object may have; an apply by one more is refused (422). */
export const managedFieldsApplyManagersMax = 20;
/** The most managedFields entries an object holds: every Apply manager, the Update managers and `ancient-changes`. */
export const managedFieldsManagersMax = managedFieldsApplyManagersMax + managedFieldsUpdateManagersMax + 1;
/** The largest managedFields of one object, JSON-encoded; a write that would store more is refused (422). */
export const managedFieldsBytesMax = 512 * 1024;
/** The deepest field path tracked (deeper nodes are owned whole) and the deepest applied configuration read, in levels. */
export const managedFieldsDepthMax = 16;
/** YAML aliases an applied configuration may expand (a "billion laughs" body is refused, 400). */
export const applyYamlAliasesMax = 100;
/** YAML tokens an applied configuration may hold, in tokens (scalars, indicators, line breaks, comments: 2–4 µs each to parse; kubectl's JSON takes ~4 a map entry); more is 400 while it is read. */
export const applyYamlTokensMax = 50_000;

// ── Backups (src/storage/backup, coffer snapshot save|restore) ─────────────────────────────────

/** Plaintext bytes of records gathered into one encrypted chunk of a backup file before it is sealed. */
export const backupChunkBytesTarget = 1024 * 1024;
/** The largest encrypted chunk a backup reader accepts (a chunk holds at least one record of up to valueBytesMax). */
export const backupChunkBytesMax = 16 * 1024 * 1024;
/** The JSON header line of a backup file is padded to exactly this many bytes (it is rewritten in place at the end). */
export const backupHeaderBytes = 4096;
/** `coffer snapshot save` reports progress on stderr after every this many records. */
export const backupProgressEveryRecords = 10_000;
/** The largest frame of the snapshot stream a member sends to `coffer snapshot save`. */
export const snapshotStreamFrameBytesMax = 16 * 1024 * 1024;
/** The largest backup passphrase file read. */
export const backupPassphraseFileBytesMax = 64 * 1024;
/**
 * The shortest passphrase, in characters, that may protect something new an attacker can take away
 * and guess at offline, where argon2id or PBKDF2 only slow the guessing: a member's keyring (created
 * at first start, or rewrapped by `coffer keys rotate-kek`), the CA's private key (`coffer ca init`,
 * `npm run bootstrap-ca`) and a backup (`coffer snapshot save`). Opening what already exists takes
 * any passphrase: an older keyring, CA key or backup keeps its own.
 */
export const newPassphraseCharsMin = 12;
/** The largest signature part (algorithm, member certificate, signature) a backup reader accepts; a Coffer certificate is under 1 KiB. */
export const backupSignaturePartBytesMax = 64 * 1024;

// ── Secret versions and rotation (src/registry/versions.ts, src/api/k8s/secret-versions.ts) ────

/** Versions of a Secret's data kept when its annotation coffer.dev/max-versions does not say otherwise. */
export const secretVersionsDefault = 10;
/** The most versions the coffer.dev/max-versions annotation may ask for. */
export const secretVersionsMax = 100;
/** The longest value `rotate` generates, in characters. */
export const generatedValueCharsMax = 4096;
/** The most keys one `rotate` may generate. */
export const generatedKeysMax = 64;
/** The shortest period the coffer.dev/rotate-every annotation may ask for (scheduled rotation). */
export const rotateEveryMsMin = 60_000;
/** The longest period coffer.dev/rotate-every may ask for: ten years (keeps due times far inside safe integers). */
export const rotateEveryMsMax = 10 * 366 * 24 * 3_600_000;
/** How often the leader looks for Secrets whose scheduled rotation is due (src/server/rotation-scheduler.ts). */
export const rotationCheckIntervalMs = 30_000;

// ── Client API requests (src/api/request.ts) ────────────────────────────────────────────────────

/** The longest request path, in bytes as received (percent-encoded); a longer one is refused with 414. */
export const requestPathBytesMax = 4096;
/** The longest query string, in bytes as received; a longer one is refused with 414. */
export const requestQueryBytesMax = 8192;
/** The most query parameters one request may carry. */
export const requestQueryParamsMax = 64;

// ── Watch streams of the client API (src/api/watch-stream.ts) ───────────────────────────────────

/**
 * Watch streams one user may hold open on a member, in streams: Kubernetes and KV watches, gRPC Watch
 * and LeaseKeepAlive streams (each may be quiet for ever, and each may hold watchUnsentBytesMax unsent).
 * More are refused: 429, gRPC RESOURCE_EXHAUSTED.
 */
export const watchStreamsPerUserMax = 128;
/**
 * Store watchers one user may hold on a member, in watchers, whatever streams carry them: a Kubernetes
 * or KV watch is one, each watch created on a gRPC Watch stream one (clientv3 puts every watch of a client
 * on one stream). More are refused: 429 for a Kubernetes or KV watch, a gRPC create is answered
 * `canceled` (RESOURCE_EXHAUSTED). It is well below watchersMax: ~39 users are needed to take every
 * watcher clients may have.
 */
export const watchersPerUserMax = 256;
/**
 * Bytes a watch response may hold unsent (its client not reading) before the next event ends the
 * stream with an error line: what one stalled watcher can cost the member, plus one event.
 */
export const watchUnsentBytesMax = 1024 * 1024;
/** How long a stream ended for falling behind waits for its client to read the end before its socket is destroyed. */
export const watchSlowCloseGraceMs = 10_000;
/** Concurrent HTTP/2 streams (gRPC calls) one client connection may hold (the HTTP/2 setting the member announces). */
export const grpcStreamsPerConnectionMax = 256;
/**
 * Streams a client may reset before their answer within grpcResetStreamsWindowMs on one HTTP/2
 * connection; past it the connection is closed and the closing recorded. A reset stream costs the member
 * its request and the client nothing ("rapid reset", CVE-2023-44487): 8 connections resetting every
 * stream they opened had 8,600 requests served at once and stalled every other client for 3.4 s.
 */
export const grpcResetStreamsMax = 256;
export const grpcResetStreamsWindowMs = 10_000;
/**
 * Requests one gRPC Watch stream may have waiting while a create's audit record is written (they are
 * answered in order, after it); one more ends the stream, so a flood of creates is bounded. etcd's
 * clients send the next create once the last is answered.
 */
export const grpcWatchRequestsQueuedMax = 64;
/**
 * Renewals one LeaseKeepAlive stream may have waiting, in renewals (lease IDs read and not yet answered;
 * they run one at a time). While that many wait the member reads no more of the stream, so HTTP/2 flow
 * control holds the client back, as etcd reads a stream's next keep-alive only after answering the last.
 */
export const leaseKeepAlivesQueuedMax = 64;
/** Bytes of events per WatchResponse when the client asked for fragments; a larger batch is split (etcd's fragment flag). */
export const grpcWatchFragmentBytes = 1024 * 1024;
/** Backup bytes per SnapshotResponse blob of etcd's Maintenance.Snapshot (etcd sends 32 KiB). */
export const grpcSnapshotChunkBytes = 64 * 1024;

// ── Delivering values to programs (coffer exec and coffer render, src/cli/deliver) ─────────────

/** How often exec and render read every Secret and ConfigMap again (and a pinned pending stage, which no watch reports). */
export const deliverCheckIntervalMsDefault = 10_000;
/** The shortest --check-interval: each check is a read, and an audit record, per Secret. */
export const deliverCheckIntervalMsMin = 1_000;
/** A watch that brings no event and no bookmark for this long is taken as lost (its member hung or cut off). */
export const deliverWatchIdleMs = 3 * watchBookmarkIntervalMs;
/** The first wait before exec and render try the members again after losing them; doubles up to deliverRetryMsMax. */
export const deliverRetryMsMin = 200;
export const deliverRetryMsMax = 5_000;
/** How long `coffer exec` waits for its program to stop after the stop signal before it kills it (--grace-period). */
export const execGracePeriodMsDefault = 10_000;
/** The largest template file `coffer render --template` reads. */
export const renderTemplateBytesMax = 1024 * 1024;
