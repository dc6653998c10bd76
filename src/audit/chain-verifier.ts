/**
 * Line-by-line verification of the chain (pure: lines in, breaks out). Used by verifyAuditLog for a
 * whole log and by the opener for the segment it continues (which stops at the first break). The caller
 * feeds files in order and, per file, its complete lines (files.ts splits them); it decides what a
 * partial last line means (verify.ts).
 *
 * After a break the rest of that file is skipped (nothing verified chains to it), and verification goes
 * on at the first line of a later file that begins a run it can check on its own: a continuation,
 * recovery or restart record whose signature is the member's word for its seq, prevHash and file. So a
 * break in an old file does not hide what was done to later ones; a later file that begins otherwise
 * after a break is a break itself.
 *
 * What each check catches:
 * - the line's bytes are not UTF-8 → edited bytes (decoded leniently, they would read as U+FFFD);
 * - the line is not the canonical JSON of what it parses to → an edit that re-serialised the line;
 * - the hash is not the hash of the content → an edited field;
 * - seq is not previous + 1 → a deleted line (jump) or swapped/replayed lines (goes back);
 * - prevHash is not the previous hash → a removed, inserted or reordered record with recomputed hashes;
 * - a checkpoint whose signature fails under the member's public key → a forged checkpoint (this also
 *   catches an edit whose author recomputed every hash after it, up to the next checkpoint), and one
 *   whose line carries another entry than it signs → an edited entry on the line no later head covers;
 * - a replicated checkpoint the log contradicts or never reaches → a rewritten or cut tail;
 * - a recovery record (the sink failed and came back) whose signature fails → a forged explanation of
 *   a gap. A signed one is an outage, reported in `totals.outages`, not a break;
 * - a continuation or restart record whose signature fails → a forged file start or retention cut;
 * - a chain record (checkpoint, continuation, restart, recovery, gap) naming another member → another
 *   member's file put in this member's log (events are not checked: the record of a write names the
 *   member that took the request, and every member appends it);
 * - the start of the log (finish): files missing before the oldest kept file that no kept retention
 *   cut names, or a cut, a first record or a segment's restart record that no signature of the member
 *   vouches for → the oldest files deleted by hand, or a log written by someone without the key.
 *
 * What vouches for a record: a later checkpoint record whose signature verifies (it signs the head, and
 * the hashes chain back), a replicated checkpoint the log matches at or after it, or the record's own
 * signature (recovery, continuation, restart records, which sign their seq and prevHash too).
 */
import { canonicalJson } from './canonical.ts';
import {
  type ChainBreak, type ChainFields, type ChainRecord, checkpointSignatureValid, genesisHash, hashOf, recordSignatureValid, type RestartBody, type SignedCheckpoint,
  type Sodium,
} from './chain.ts';
import { auditFileName } from './files.ts';

/** A time the audit sink refused records, as the member's signed recovery record tells it. */
export interface AuditOutage {
  /** Where the recovery record is. */
  file: string;
  seq: number;
  failedAt: string;
  recoveredAt: string;
  reason: string;
  recordsCut: number;
  recordsRefused: number;
}

export interface ChainVerifierOptions {
  sodium: Sodium;
  publicKey: Uint8Array;
  /** Checkpoints the cluster replicated for this member; compared with the log (cut-tail detection). */
  replicatedCheckpoints?: readonly SignedCheckpoint[];
  /**
   * When set, every chain record that names a member (checkpoints, continuations, restarts, recoveries,
   * gaps) must name this one, and replicated checkpoints of other members are ignored. When not, they
   * must all name the member the first of them names.
   */
  member?: string;
  /**
   * 'log': the first line is the start of the log (seq 1 in file 1) or, after a retention cut, a
   * continuation record. 'segment': the first line is a restart record beginning a fresh segment.
   */
  start: 'log' | 'segment';
  /**
   * The newest Raft entry whose record the log can hold: the opener passes the member's WAL's last
   * index (an entry is durable there before it is applied, and a committed one is never taken back).
   * A line claiming a later entry was edited: believed, the log would take no record of any entry up
   * to it. Absent: not checked (offline verification has no WAL).
   */
  entryMax?: number;
}

export interface ChainTotals {
  records: number;
  events: number;
  checkpoints: number;
  /** The last verified record; seq 0 and genesisHash before any. */
  lastSeq: number;
  lastHash: string;
  firstSeq: number;
  /** Records after the last checkpoint (the tail no signature covers yet). */
  recordsSinceCheckpoint: number;
  /** Audit sink outages the log records (signed recovery records), oldest first. */
  outages: AuditOutage[];
  /** The newest Raft entry whose record the verified chain holds (the last `entry`; 0 before any). */
  lastEntry: number;
  /** Raft entries whose records the log says it does not hold (gap records), oldest first. */
  gaps: { first: number; last: number }[];
}

export class ChainVerifier {
  private readonly pending: SignedCheckpoint[];
  /** A replicated checkpoint whose covered record was just seen: the next record must be its checkpoint record. */
  private awaiting: SignedCheckpoint | undefined;
  private fileNumber = 0;
  private fileName = '';
  private lineInFile = 0;
  /** The oldest file fed (its name), once one is. */
  private firstFileName: string | undefined;
  /** The file just before the oldest kept one, when files before it are missing: a kept retention cut must name it. */
  private cutNeeded: string | undefined;
  /** The seq of the first continuation whose `removes` names cutNeeded. */
  private cutNamedAt: number | undefined;
  /** The newest seq a signature of the member vouches for (0: none; see the file comment). */
  private signedThrough = 0;
  /** The member every chain record must name (options.member, or the first one named). */
  private expectedMember: string | undefined;
  /** After a break: lines are skipped until the first line of a later file anchors the chain again (line). */
  private skipping = false;
  /** Every break found so far, in the order found. */
  readonly breaks: ChainBreak[] = [];
  readonly totals: ChainTotals = {
    records: 0, events: 0, checkpoints: 0, lastSeq: 0, lastHash: genesisHash, firstSeq: 0, recordsSinceCheckpoint: 0, outages: [],
    lastEntry: 0, gaps: [],
  };

  constructor(private readonly options: ChainVerifierOptions) {
    this.expectedMember = options.member;
    // The cluster holds every member's checkpoints; with a member named, only its own are compared.
    this.pending = (options.replicatedCheckpoints ?? [])
      .filter((cp) => options.member === undefined || cp.member === options.member)
      .sort((a, b) => a.seq - b.seq);
  }

  /**
   * Checks the replicated checkpoints themselves: a forged one is a break before any line is read, and
   * is not compared with the log. Returns the first such break.
   */
  checkReplicated(): ChainBreak | undefined {
    const found = this.breaks.length;
    const forged = this.pending.filter((cp) => !checkpointSignatureValid(this.options.sodium, cp, this.options.publicKey));
    for (const cp of forged) {
      this.breaks.push({ file: '(replicated checkpoints)', seq: cp.seq, reason: `replicated checkpoint at seq ${cp.seq} has a signature that does not verify (forged)` });
      this.pending.splice(this.pending.indexOf(cp), 1);
    }
    return this.breaks[found];
  }

  beginFile(fileNumber: number, fileName: string): void {
    this.fileNumber = fileNumber;
    this.fileName = fileName;
    this.lineInFile = 0;
    if (this.firstFileName === undefined) {
      this.firstFileName = fileName;
      // Files before the oldest kept one are gone: only a retention cut the member recorded may explain that.
      if (this.options.start === 'log' && fileNumber > 1) this.cutNeeded = auditFileName(fileNumber - 1);
    }
  }

  /**
   * A break the caller found between lines: files missing, or a file that is not the newest empty or
   * ending in a partial line. `chainCut`: the chain does not go on from the last record verified across
   * it (files are missing), so it is followed again only where the member's signature anchors it.
   */
  fileProblem(reason: string, { chainCut }: { chainCut: boolean }): ChainBreak {
    return this.found({ file: this.fileName, seq: this.totals.lastSeq + 1, reason }, chainCut);
  }

  /**
   * Verifies one complete line; returns the first break found at it, or undefined (every break is also
   * in `breaks`). `utf8: false`: the line's bytes are not UTF-8 (files.ts), so its text is no record the
   * member wrote.
   */
  line(text: string, read: { utf8?: boolean } = {}): ChainBreak | undefined {
    const lineNo = ++this.lineInFile;
    // After a break nothing verified chains to the rest of that file: it is skipped, and verification
    // picks up at the first line of a later file if the member's signature anchors it (resumeProblem).
    if (this.skipping && lineNo > 1) return undefined;
    const here = `line ${lineNo}`;
    if (read.utf8 === false) return this.broken(this.totals.lastSeq + 1, `${here} is not valid UTF-8 (its bytes were edited)`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.broken(this.totals.lastSeq + 1, `${here} is not valid JSON`);
    }
    if (!isChainRecord(parsed)) return this.broken(this.totals.lastSeq + 1, `${here} is not an audit record (missing kind, seq, prevHash or hash)`);
    const record = parsed;
    if (canonicalJson(record) !== text) return this.broken(record.seq, `${here} is not in canonical form (the line was re-serialised or edited)`);
    const { hash, ...unhashed } = record;
    if (hashOf(unhashed) !== hash) return this.broken(record.seq, `${here}: the record's hash does not match its content (edited)`);

    // A restart begins a segment of its own (zero prevHash, seq above every seq seen): what it says —
    // the break the member found at open — is the news, not that its seq and prevHash do not follow.
    const segmentStart = this.options.start === 'segment' && this.totals.records === 0 && !this.skipping;
    if (record.kind === 'Restart' && !segmentStart) return this.restarted(record, here);
    const resuming = this.skipping;
    let problem: string | undefined;
    if (resuming) problem = this.resumeProblem(record);
    else if (this.totals.records === 0) problem = this.anchorProblem(record);
    else problem = this.followProblem(record, lineNo);
    problem ??= this.kindProblem(record);
    if (problem !== undefined) return this.broken(record.seq, `${here}: ${problem}`);
    if (resuming) this.resume(record);
    return this.accept(record, here);
  }

  /**
   * After the last line: a replicated checkpoint beyond the end means the tail was cut; then the start
   * of the log must be the member's (startProblem). Returns the first break found here.
   */
  finish(): ChainBreak | undefined {
    const found = this.breaks.length;
    // A log that ends in lines a break made verification skip cannot be compared with the cluster's
    // checkpoints: the break before them is what is reported.
    const tail = this.skipping ? undefined : this.tailProblem();
    if (tail !== undefined) this.broken(this.totals.lastSeq + 1, tail);
    const start = this.startProblem();
    if (start !== undefined) this.found({ file: this.firstFileName ?? this.fileName, seq: this.totals.firstSeq, reason: start }, false);
    return this.breaks[found];
  }

  private tailProblem(): string | undefined {
    if (this.awaiting !== undefined) return `cut tail: the log ends before the checkpoint record the cluster holds for seq ${this.awaiting.seq}`;
    const beyond = this.pending.find((cp) => cp.seq > this.totals.lastSeq);
    return beyond === undefined ? undefined : `cut tail: the cluster holds a checkpoint at seq ${beyond.seq} but the log ends at seq ${this.totals.lastSeq}`;
  }

  /**
   * A restart record other than the one a segment begins with: the member found a break at open and
   * began a fresh segment here, which is reported as a break. One the member signed begins a run that
   * verification checks on its own (its prevHash is the zero hash, its place signed): the chain is
   * followed from it.
   */
  private restarted(record: RestartBody & ChainFields, here: string): ChainBreak {
    const problem = this.restartProblem(record);
    const signed = record.signature !== undefined;
    const news = `the chain was restarted here after a break at ${record.break?.file} seq ${record.break?.seq}: ${record.break?.reason}`
      + (signed ? '' : ' (an unsigned restart record: the member signs the ones it writes now)');
    const reported = this.broken(record.seq, `${here}: ${problem ?? news}`);
    if (problem === undefined && signed) {
      this.signedThrough = Math.max(this.signedThrough, record.seq);
      this.resume(record);
      this.accept(record, here);
    }
    return reported;
  }

  /** The chain is followed again from `record`, which the member's signature anchors, after a break. */
  private resume(record: ChainRecord): void {
    this.skipping = false;
    // Replicated checkpoints within what was skipped cannot be compared with anything.
    while (this.pending.length > 0 && this.pending[0]!.seq < record.seq) this.pending.shift();
    // The entries of the records skipped are unknown: their order is checked again from here.
    this.totals.lastEntry = 0;
  }

  /** Takes a record whose place and kind verified: the entries it claims, the cluster's checkpoints, the totals. */
  private accept(record: ChainRecord, here: string): ChainBreak | undefined {
    if (this.totals.records === 0) this.totals.firstSeq = record.seq;
    const entry = record.entry;
    if (entry !== undefined && (!Number.isSafeInteger(entry) || entry < this.totals.lastEntry)) {
      return this.broken(record.seq, `${here}: entry ${String(entry)} goes back from ${this.totals.lastEntry} (records of Raft entries out of order)`);
    }
    const { entryMax } = this.options;
    if (entry !== undefined && entryMax !== undefined && entry > entryMax) {
      return this.broken(record.seq, `${here}: entry ${entry} is beyond the newest Raft entry this member holds (${entryMax}): the line was edited`);
    }

    // A checkpoint record directly follows the record it covers, so the cluster's checkpoint is also
    // proof that the next record exists: without this, dropping the final checkpoint line would go unseen.
    if (this.awaiting !== undefined) {
      if (record.kind !== 'Checkpoint' || record.signature !== this.awaiting.signature) {
        return this.broken(record.seq, `${here}: expected the checkpoint record the cluster holds for seq ${this.awaiting.seq}, found ${record.kind}`);
      }
      this.awaiting = undefined;
    }
    while (this.pending.length > 0 && this.pending[0]!.seq < this.totals.firstSeq) this.pending.shift(); // before a retention cut
    const replicated = this.pending[0];
    if (replicated !== undefined && replicated.seq === record.seq) {
      if (replicated.head !== record.hash) {
        return this.broken(record.seq, `${here}: the record differs from the cluster's replicated checkpoint at seq ${record.seq} (rewritten)`);
      }
      this.pending.shift();
      this.awaiting = replicated;
      this.signedThrough = Math.max(this.signedThrough, record.seq);
    }

    this.totals.records++;
    this.totals.lastSeq = record.seq;
    this.totals.lastHash = record.hash;
    if (entry !== undefined) this.totals.lastEntry = entry;
    if (record.kind === 'Checkpoint') {
      this.totals.checkpoints++;
      this.totals.recordsSinceCheckpoint = 0;
    } else {
      if (record.kind === 'Event') this.totals.events++;
      this.totals.recordsSinceCheckpoint++;
    }
    return undefined;
  }

  /**
   * Whether the start of what was read is the member's own. A log that begins with file 1 at seq 1 and
   * the zero prevHash needs nothing more (the replicated checkpoints, all at or after seq 1, are
   * compared with it). A log whose oldest files are gone begins with a continuation (or recovery) whose
   * prevHash nothing before it confirms: the missing files must be named by a retention cut a kept
   * continuation records, and a signature of the member must vouch for that continuation — so a file
   * written by hand, another member's file, or the newest files left after the oldest were deleted do
   * not pass for a retention cut, whatever replicated checkpoints they predate.
   * Every retention cut qualifies: the continuation that names the files is durable before they are
   * deleted and signed, and it sits in the file the rotation opened, newer than every file deleted, so
   * the last cut's continuation is kept (an earlier cut's may be gone; the last one names the file just
   * before the oldest kept). A segment (after a restart) begins with a restart record whose prevHash is
   * the zero hash: a signature must vouch for it too.
   */
  private startProblem(): string | undefined {
    const { firstSeq, records } = this.totals;
    if (this.options.start === 'segment') {
      if (records > 0 && this.signedThrough < firstSeq) {
        return `the restart record at seq ${firstSeq} that begins this segment is not signed by the member and no checkpoint of the member vouches for it (written by someone else?)`;
      }
      return undefined;
    }
    const needed = this.cutNeeded;
    if (needed === undefined) return undefined;
    const first = this.firstFileName ?? '';
    if (this.cutNamedAt === undefined) {
      return `the files before ${first} are missing and no retention cut in the kept log names ${needed} `
        + '(deleted without a recorded cut, or the files are not this member\'s log)';
    }
    if (this.signedThrough < this.cutNamedAt) {
      return `the retention cut at seq ${this.cutNamedAt} naming ${needed} is not signed by the member and no checkpoint of the member vouches for it `
        + '(written by someone else?)';
    }
    return undefined;
  }

  private anchorProblem(record: ChainRecord): string | undefined {
    if (this.options.start === 'segment') {
      if (record.kind !== 'Restart') return `a segment must begin with a restart record, found ${record.kind}`;
      if (record.prevHash !== genesisHash) return 'a restart record must have the zero prevHash';
      return undefined;
    }
    if (this.fileNumber === 1 && this.lineInFile === 1) {
      if (record.seq !== 1 || record.prevHash !== genesisHash) return `the log must begin at seq 1 with the zero prevHash, found seq ${record.seq}`;
      if (record.kind === 'Continuation') return 'file 1 cannot begin with a continuation record';
      return undefined;
    }
    // Older files were removed by retention: the first kept file must begin with the continuation (or
    // recovery) that carried the chain into it. Nothing kept confirms its prevHash: finish() asks that a
    // signed-over retention cut name the missing files (startProblem).
    if (this.lineInFile !== 1 || (record.kind !== 'Continuation' && record.kind !== 'Recovery')) {
      return `the oldest kept file must begin with a continuation record (earlier files removed), found ${record.kind}`;
    }
    return undefined;
  }

  /** How a record that is not the first must follow the last one verified. */
  private followProblem(record: ChainRecord, lineNo: number): string | undefined {
    if (record.seq <= this.totals.lastSeq) return `seq goes back from ${this.totals.lastSeq} to ${record.seq} (lines swapped or replayed)`;
    if (record.seq !== this.totals.lastSeq + 1) return `seq jumps from ${this.totals.lastSeq} to ${record.seq} (lines deleted)`;
    if (record.prevHash !== this.totals.lastHash) return 'prevHash does not match the previous record (a record was removed, inserted or reordered)';
    return this.placementProblem(record, lineNo);
  }

  /**
   * Why the first line of a file after a break cannot begin a run that verification checks on its own:
   * nothing verified before it vouches for it, so it must be a record whose signature is the member's
   * word for its seq, its prevHash and its file (kindProblem checks the signature; a restart is taken in
   * `restarted`).
   */
  private resumeProblem(record: ChainRecord): string | undefined {
    if (record.kind !== 'Continuation' && record.kind !== 'Recovery') {
      return `after the break before it, file ${this.fileName} does not begin with a continuation record (found ${record.kind}): verification cannot go on from it`;
    }
    if (record.signature === undefined) {
      return 'after the break before it, an unsigned continuation record cannot anchor verification (written before continuations were signed, or by someone else)';
    }
    return this.placementProblem(record, 1);
  }

  private placementProblem(record: ChainRecord, lineNo: number): string | undefined {
    if (lineNo === 1 && record.kind !== 'Continuation' && record.kind !== 'Restart' && record.kind !== 'Recovery') {
      return `file ${this.fileName} does not begin with a continuation record (found ${record.kind})`;
    }
    if (record.kind === 'Continuation' || record.kind === 'Recovery') {
      const what = record.kind === 'Continuation' ? 'continuation' : 'recovery';
      if (lineNo !== 1) return `a ${what} record in the middle of a file`;
      if (record.file !== this.fileNumber || record.previousFile !== this.fileNumber - 1) {
        return `${what} record names file ${record.file} after ${record.previousFile}, but it is in file ${this.fileNumber}`;
      }
    }
    return undefined;
  }

  private kindProblem(record: ChainRecord): string | undefined {
    switch (record.kind) {
      case 'Event':
        // Parsed from disk, so the type's promise is not yet kept: check the tag.
        return (record.apiVersion as string) === 'audit.k8s.io/v1' ? undefined : `event with apiVersion ${JSON.stringify(record.apiVersion)}`;
      case 'Continuation': {
        const named = this.memberProblem('continuation', record.member);
        if (named !== undefined) return named;
        const removes: unknown = record.removes;
        if (!Array.isArray(removes) || !removes.every((name) => typeof name === 'string')) return 'continuation record without a list of the files it removes';
        if (record.signature !== undefined) {
          if (!recordSignatureValid(this.options.sodium, record, this.options.publicKey)) {
            return 'continuation record signature does not verify under the member audit key (forged)';
          }
          this.signedThrough = Math.max(this.signedThrough, record.seq);
        }
        // The first record may name the file before its own (a rotation into a file a crash left empty
        // plans retention with that file as the newest); the signature it needs then vouches for it.
        if (this.cutNeeded !== undefined && this.cutNamedAt === undefined && removes.includes(this.cutNeeded)) this.cutNamedAt = record.seq;
        return undefined;
      }
      case 'Gap': {
        const named = this.memberProblem('gap', record.member);
        if (named !== undefined) return named;
        const { first: from, last } = record.entries ?? {};
        if (!Number.isSafeInteger(from) || !Number.isSafeInteger(last) || from < 1 || last < from) return 'gap record without a valid range of entries';
        this.totals.gaps.push({ first: from, last });
        return undefined;
      }
      case 'Recovery': {
        const named = this.memberProblem('recovery', record.member);
        if (named !== undefined) return named;
        if (!recordSignatureValid(this.options.sodium, record, this.options.publicKey)) {
          return 'recovery record signature does not verify under the member audit key (a forged explanation of a gap)';
        }
        this.signedThrough = Math.max(this.signedThrough, record.seq);
        this.totals.outages.push({
          file: this.fileName, seq: record.seq, failedAt: String(record.failure?.time), recoveredAt: record.time,
          reason: String(record.failure?.reason), recordsCut: record.recordsCut, recordsRefused: record.recordsRefused,
        });
        return undefined;
      }
      case 'Restart': {
        // The restart a segment begins with (any other is taken in `restarted`).
        const problem = this.restartProblem(record);
        if (problem === undefined && record.signature !== undefined) this.signedThrough = Math.max(this.signedThrough, record.seq);
        return problem;
      }
      case 'Checkpoint': {
        const cp = record.checkpoint;
        if (cp === null || typeof cp !== 'object') return 'checkpoint record without a checkpoint';
        if (cp.seq !== record.seq - 1 || cp.head !== record.prevHash) {
          return `checkpoint claims seq ${cp.seq} head ${String(cp.head).slice(0, 12)}… but follows seq ${record.seq - 1}`;
        }
        const named = this.memberProblem('checkpoint', cp.member);
        if (named !== undefined) return named;
        if (!checkpointSignatureValid(this.options.sodium, { ...cp, signature: record.signature }, this.options.publicKey)) {
          return 'checkpoint signature does not verify under the member audit key (forged)';
        }
        // A checkpoint signed before it carried `entry` leaves its line's entry unsigned: what a member
        // trusts of it is bounded at open by its WAL (entryMax), which is what closes an edit of it.
        if (cp.entry !== undefined && cp.entry !== record.entry) {
          return `the checkpoint signs entry ${cp.entry} but its line carries entry ${String(record.entry)} (edited)`;
        }
        this.signedThrough = Math.max(this.signedThrough, record.seq - 1);
        return undefined;
      }
      default:
        return `unknown record kind ${JSON.stringify((record as { kind: unknown }).kind)}`;
    }
  }

  /** A chain record names its member: it must be this member (options.member, or the first one named). */
  private memberProblem(what: string, member: unknown): string | undefined {
    if (typeof member !== 'string') return `${what} record names no member`;
    this.expectedMember ??= member;
    if (member === this.expectedMember) return undefined;
    return `${what} record names member ${JSON.stringify(member)}, expected ${JSON.stringify(this.expectedMember)} (another member's record)`;
  }

  /** Whether a restart record is the member's: it names the member, and a signature it carries verifies. */
  private restartProblem(record: RestartBody & ChainFields): string | undefined {
    const named = this.memberProblem('restart', record.member);
    if (named !== undefined) return named;
    if (record.signature !== undefined && !recordSignatureValid(this.options.sodium, record, this.options.publicKey)) {
      return 'restart record signature does not verify under the member audit key (forged)';
    }
    return undefined;
  }

  /** A break at a line of the current file: the rest of that file is skipped (line). */
  private broken(seq: number, reason: string): ChainBreak {
    return this.found({ file: this.fileName, seq, reason }, true);
  }

  private found(found: ChainBreak, chainCut: boolean): ChainBreak {
    this.breaks.push(found);
    if (chainCut) {
      this.skipping = true;
      this.awaiting = undefined;
    }
    return found;
  }
}

const hex64 = /^[0-9a-f]{64}$/;

function isChainRecord(value: unknown): value is ChainRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const r = value as Record<string, unknown>;
  return typeof r.kind === 'string' && Number.isSafeInteger(r.seq) && (r.seq as number) >= 1
    && typeof r.prevHash === 'string' && hex64.test(r.prevHash) && typeof r.hash === 'string' && hex64.test(r.hash);
}
