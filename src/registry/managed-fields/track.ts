/**
 * Who owns what after a write. An Update takes ownership of every field it added or changed, from
 * whichever manager owned it before (an update never conflicts); an Apply has already set its own fields
 * (apply.ts). Whatever the write, a field no longer in the object is owned by no one, and a manager left
 * owning nothing is dropped. The writer's time is the time of the write when the write changed something;
 * otherwise every time stays, so a write that changes nothing stores nothing new.
 *
 * A value-blind write (a caller who may not get the Secret: registry WriteOptions.valueBlind) takes every
 * hidden field it sets, equal to the stored value or not, and no hidden field by comparing values — as a
 * blind apply contests every hidden field it applies (apply.ts). Otherwise a right guess of a value took
 * nothing and a wrong one took the field (a new entry, or a longer one): managedFields whose size, which
 * the managedFieldsBytesMax refusal tells, answered the guess.
 */
import { compare, type FieldPath, FieldSet, nodesOf } from './field-set.ts';
import { type Manager, type Operation, sameManager } from './entries.ts';

export interface Writer {
  manager: string;
  operation: Operation;
  /** The time of the write, RFC 3339 UTC. */
  now: string;
}

/** What a value-blind write may not see (`hiddenAt`), and the hidden fields it set (`sets`), whatever their values were. */
export interface BlindWrite {
  hiddenAt: (path: FieldPath) => boolean;
  sets: FieldSet;
}

type Json = Record<string, unknown>;

export function nextManagers(base: readonly Manager[], before: Json | undefined, after: Json, writer: Writer, blind?: BlindWrite): Manager[] {
  const nodes = nodesOf(after);
  const { added, modified, removed } = compare(before ?? {}, nodes);
  const present = FieldSet.ofNodes(nodes);
  const changed = blind === undefined
    ? added.union(modified)
    : added.union(new FieldSet([...modified].filter((path) => !blind.hiddenAt(path)))).union(blind.sets.intersect(present));
  let managers = base.map((m) => ({ ...m, fields: m.fields.intersect(present) }));
  const touched = changed.size > 0 || removed.size > 0;
  if (writer.operation === 'Update' && changed.size > 0) {
    managers = managers.map((m) => (sameManager(m, writer) ? m : { ...m, fields: m.fields.minus(changed) }));
    if (!managers.some((m) => sameManager(m, writer))) managers.push({ manager: writer.manager, operation: 'Update', time: writer.now, fields: new FieldSet() });
    managers = managers.map((m) => (sameManager(m, writer) ? { ...m, fields: m.fields.union(changed) } : m));
  }
  if (touched) managers = managers.map((m) => (sameManager(m, writer) ? { ...m, time: writer.now } : m));
  return managers.filter((m) => m.fields.size > 0);
}
