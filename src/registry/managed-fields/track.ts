/**
 * Who owns what after a write. An Update takes ownership of every field it added or changed, from
 * whichever manager owned it before (an update never conflicts); an Apply has already set its own fields
 * (apply.ts). Whatever the write, a field no longer in the object is owned by no one, and a manager left
 * owning nothing is dropped. The writer's time is the time of the write when the write changed something;
 * otherwise every time stays, so a write that changes nothing stores nothing new.
 */
import { compare, FieldSet, nodesOf } from './field-set.ts';
import { type Manager, type Operation, sameManager } from './entries.ts';

export interface Writer {
  manager: string;
  operation: Operation;
  /** The time of the write, RFC 3339 UTC. */
  now: string;
}

type Json = Record<string, unknown>;

export function nextManagers(base: readonly Manager[], before: Json | undefined, after: Json, writer: Writer): Manager[] {
  const nodes = nodesOf(after);
  const { added, modified, removed } = compare(before ?? {}, nodes);
  const present = FieldSet.ofNodes(nodes);
  const changed = added.union(modified);
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
