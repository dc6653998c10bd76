/**
 * Re-sealing a closed WAL file (a segment no record will be appended to, or a snapshot file) under
 * the active DEK, so that an older DEK stops being named anywhere in the WAL dir and can be retired.
 *
 * Every frame sealed with a DEK other than the active one is opened at its position and sealed again
 * at the SAME position; frames already on the active DEK are kept byte for byte. A sealed page's size
 * does not depend on its DEK, so every frame keeps its offset and length (the log index's offsets stay
 * valid). The new file replaces the old one atomically (src/durable's write-then-rename: `<file>.<token>.tmp`,
 * fdatasync, rename over the original, directory fsync). A crash therefore leaves the old file or the
 * new one, each complete, plus at most a temporary that open() removes (files.ts: `*.tmp`). The work
 * yields to the event loop every walResealYieldBytes, so re-sealing a full segment never stalls the
 * member for long.
 */
import { assert, type Clock } from '../../base/index.ts';
import { type PagePosition, type Sealer, wipe } from '../../crypto/index.ts';
import { walResealYieldBytes } from '../../config/index.ts';
import { type DurableFs, writeFileDurably } from '../../durable/index.ts';
import { WalCorruptionError } from './errors.ts';
import { encodeFrame, type ScannedFrame, scanFrames } from './frame.ts';

/** Where frame number `ordinal` of the file was sealed; throws WalCorruptionError for a frame that cannot be there. */
export type FramePosition = (frame: ScannedFrame, ordinal: number) => PagePosition;

/**
 * Re-seals `file` in place (see above) if any frame in it names a non-active DEK; returns how many
 * frames were re-sealed (0: the file was left untouched). The file must be complete: a torn or
 * corrupt frame is WalCorruptionError, and nothing is written.
 */
export async function resealFile(
  io: { fs: DurableFs; clock: Clock }, file: string, sealer: Sealer, positionOf: FramePosition,
): Promise<number> {
  const bytes = await io.fs.readFile(file);
  const frames: ScannedFrame[] = [];
  const end = scanFrames(bytes, (frame) => frames.push(frame));
  if (end.kind !== 'clean') throw new WalCorruptionError(file, end.offset, `${end.reason}, in a file being re-sealed`);
  const active = sealer.activeDekId();
  let out: Buffer | undefined;
  let resealed = 0;
  let sinceYield = 0;
  for (const [at, frame] of frames.entries()) {
    if (sealer.dekIdOf(frame.sealed) === active) continue;
    if (sinceYield >= walResealYieldBytes) {
      sinceYield = 0;
      await new Promise<void>((resolve) => io.clock.defer(resolve));
    }
    sinceYield += frame.length;
    const position = positionOf(frame, at);
    let plain: Uint8Array;
    try {
      plain = sealer.open(frame.sealed, position);
    } catch (error) {
      throw new WalCorruptionError(file, frame.offset, `record ${at} failed to open for re-sealing: ${(error as Error).message}`, { cause: error });
    }
    let reframed: Uint8Array;
    try {
      reframed = encodeFrame(frame.type, frame.index, sealer.seal(plain, position));
    } finally {
      wipe(plain);
    }
    // Invariant: same position, same size — offsets held in memory and in other records stay valid.
    assert(reframed.length === frame.length, `re-sealed record ${at} of ${file} is ${reframed.length} bytes, was ${frame.length}`);
    out ??= Buffer.from(bytes);
    out.set(reframed, frame.offset);
    resealed++;
  }
  if (out !== undefined) await writeFileDurably(file, out, { fs: io.fs });
  return resealed;
}
