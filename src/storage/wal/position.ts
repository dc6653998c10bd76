/**
 * Where a WAL record is sealed: store `<storeId>/wal/<segment seq>`, the record's kind, its log index
 * (0 for state records) and its ordinal within the segment — so a record cannot be moved between or
 * within segments, nor dropped from the middle of one, without failing to open.
 */
import { RecordKind, type PagePosition } from '../../crypto/index.ts';
import { RecordType } from './codec.ts';

const kindOf: Record<RecordType, RecordKind> = {
  [RecordType.entry]: RecordKind.walEntry,
  [RecordType.state]: RecordKind.walHardState,
  [RecordType.snapshot]: RecordKind.walSnapshot,
};

/** The seal position of a record, or undefined for an unknown record type. */
export function recordPosition(storeId: string, segmentSeq: number, type: number, index: number, ordinal: number): PagePosition | undefined {
  const kind = kindOf[type as RecordType] as RecordKind | undefined;
  if (kind === undefined) return undefined;
  return { storeId: `${storeId}/wal/${segmentSeq}`, kind, index, sub: ordinal };
}
