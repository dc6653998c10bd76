/**
 * Offline verification of one member's audit directory: the chain across every kept file, every
 * checkpoint signature, and (when given) the cluster's replicated checkpoints, which is what reveals a
 * cut tail. Reports every break: after one, verification goes on where a record the member signed
 * begins a file (chain-verifier.ts), so a break in an old file does not hide later tampering. A torn
 * tail of the newest file (a crash mid-write, never acknowledged: a partial last line, or lines whose
 * sectors a power cut zeroed; files.ts) is not a break; it is reported as `tornTail`. A time the audit sink refused records
 * (disk full, I/O error), recorded by the member in a signed recovery record, is not a break either: it
 * is reported in `outages`, with a sentence for people in `notes`. The start of the log must be the
 * member's (chain-verifier.ts, startProblem): oldest files missing are a break unless a kept retention
 * cut the member signed names them.
 */
import { sodiumReady } from '../crypto/index.ts';
import { type DurableFs, nodeFs } from '../durable/index.ts';
import { type AuditOutage, ChainVerifier } from './chain-verifier.ts';
import type { ChainBreak, SignedCheckpoint } from './chain.ts';
import { listAuditFiles, readLines } from './files.ts';

export interface VerifyAuditOptions {
  /** The member's Ed25519 audit public key (from its sealed key file or the cluster's record). */
  publicKey: Uint8Array;
  replicatedCheckpoints?: readonly SignedCheckpoint[];
  /**
   * When set, every chain record naming a member (checkpoints, continuations, restarts, recoveries,
   * gaps) must name this one; when not, they must all name the same member.
   */
  member?: string;
  /** The file system the directory is on (default: the real one; the simulator passes its power-loss disk). */
  fs?: DurableFs;
}

export type VerifyAuditResult =
  | {
    ok: true; events: number; checkpoints: number; records: number; firstSeq: number; lastSeq: number; head: string; files: string[]; tornTail: boolean;
    outages: AuditOutage[];
    /** Raft entries whose write records this log does not hold (gap records: a snapshot brought them). */
    gaps: { first: number; last: number }[];
    /** The newest Raft entry whose write record the log holds (0: none). */
    lastEntry: number;
    /** What a reader should know about an intact log: each outage and each gap explained. */
    notes: string[];
  }
  | {
    /** The first break found (also breaks[0]). */
    ok: false; file: string; seq: number; reason: string;
    /** Every break found, in order: the first, then each found in the files verification went on with after it. */
    breaks: ChainBreak[];
  };

export async function verifyAuditLog(dir: string, options: VerifyAuditOptions): Promise<VerifyAuditResult> {
  const sodium = await sodiumReady();
  const { fs = nodeFs, ...chain } = options;
  const verifier = new ChainVerifier({ sodium, start: 'log', ...chain });
  verifier.checkReplicated();
  // A mistyped or deleted directory must not pass as an empty, intact log.
  const isDir = await fs.stat(dir).then((s) => s.isDirectory, () => false);
  if (!isDir) return brokenResult([...verifier.breaks, { file: dir, seq: 0, reason: `audit directory ${dir} does not exist or is not a directory` }]);
  const files = await listAuditFiles(dir, fs);
  let tornTail = false;
  let previous: number | undefined;
  for (const [i, file] of files.entries()) {
    const last = i === files.length - 1;
    verifier.beginFile(file.number, file.name);
    if (previous !== undefined && file.number !== previous + 1) verifier.fileProblem(`files ${previous + 1}..${file.number - 1} are missing`, { chainCut: true });
    previous = file.number;
    const { lines, notUtf8, partialBytes } = await readLines(file.path, fs);
    for (const [n, line] of lines.entries()) verifier.line(line, { utf8: !notUtf8.has(n) });
    if (!last) {
      // The next file's continuation chains to the last complete line: the chain goes on across these.
      if (partialBytes > 0) verifier.fileProblem(`${partialBytes} bytes after the last complete line of a file that is not the newest`, { chainCut: false });
      else if (lines.length === 0) verifier.fileProblem('an empty file that is not the newest', { chainCut: false });
    }
    tornTail ||= partialBytes > 0;
  }
  verifier.finish();
  if (verifier.breaks.length > 0) return brokenResult(verifier.breaks.map((b) => (b.file === '' ? { ...b, file: '(no audit files)' } : b)));
  const t = verifier.totals;
  return {
    ok: true, events: t.events, checkpoints: t.checkpoints, records: t.records, firstSeq: t.firstSeq, lastSeq: t.lastSeq,
    head: t.lastHash, files: files.map((f) => f.name), tornTail, outages: t.outages, gaps: t.gaps, lastEntry: t.lastEntry,
    notes: [...t.outages.map(describeOutage), ...t.gaps.map(describeGap)],
  };
}

function brokenResult(breaks: ChainBreak[]): VerifyAuditResult {
  return { ok: false, ...breaks[0]!, breaks };
}

/** One sentence saying what a gap record means. */
export function describeGap(gap: { first: number; last: number }): string {
  return `Raft entries ${gap.first}..${gap.last} reached this member's store through a snapshot, not one by one: `
    + 'the write records they carried are in the audit logs of the members that applied them';
}

/** One sentence saying what an outage was and why it is not tampering. */
export function describeOutage(outage: AuditOutage): string {
  return `the audit sink failed at ${outage.failedAt} (${outage.reason}) and took records again at ${outage.recoveredAt}: `
    + `${outage.recordsRefused} record(s) refused meanwhile (their requests were answered 503 and changed nothing), `
    + `${outage.recordsCut} unacknowledged record(s) cut; the member recorded and signed this at ${outage.file} seq ${outage.seq} — a gap in service, not tampering`;
}
