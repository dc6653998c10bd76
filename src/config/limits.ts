/**
 * Every limit Coffer enforces, as a named constant with its unit last in the name. A limit is checked
 * at the boundary where input enters, and a breach is a clear error naming the limit, never a crash.
 */

/** The largest Secret or ConfigMap object, as Kubernetes allows. */
export const objectBytesMax = 1024 * 1024;
/** The largest request body the client API reads (an object plus its envelope). */
export const requestBodyBytesMax = 1.5 * 1024 * 1024;
/** The longest object name (DNS-1123 subdomain). */
export const nameLengthMax = 253;
/** The longest namespace name (DNS-1123 label). */
export const namespaceLengthMax = 63;

/** The largest key in the KV store. */
export const keyBytesMax = 1536;
/** The largest value in the KV store: an object plus its stored metadata and versions. */
export const valueBytesMax = 1536 * 1024;
/** The most operations one transaction may carry. */
export const txnOpsMax = 128;
/** The most watchers one member serves at once. */
export const watchersMax = 10_000;

// ── Raft (src/raft) ────────────────────────────────────────────────────────────────────────────

// ── Crypto and WAL (src/crypto, src/storage/wal) ───────────────────────────────────────────────

// ── MVCC (src/storage/mvcc) ────────────────────────────────────────────────────────────────────

// ── PKI and TLS (src/pki) ──────────────────────────────────────────────────────────────────────
