/**
 * Label and field selectors with Kubernetes' syntax. Labels: requirements joined by commas, each
 * `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)` or `k notin (a,b)`; an object matches when every
 * requirement holds (`!=` and `notin` also match objects without the label, as in Kubernetes). A key
 * a client gives is looked up among the object's own labels and fields only, never its prototype's.
 * Fields: `metadata.name` and `metadata.namespace` with `=`, `==` or `!=`. Parsing is pure and
 * throws RegistryError BadRequest naming the bad part.
 */
import { selectorLengthMax } from '../config/index.ts';
import { RegistryError } from './errors.ts';
import { labelValueErrors, qualifiedNameErrors } from './names.ts';
import type { StoredObject } from './object.ts';

export type LabelRequirement =
  | { op: 'exists' | 'notexists'; key: string }
  | { op: 'in' | 'notin'; key: string; values: string[] };

export type LabelSelector = readonly LabelRequirement[];

export function parseLabelSelector(text: string): LabelSelector {
  if (text.length > selectorLengthMax) throw bad(`labelSelector is longer than ${selectorLengthMax} characters`);
  const requirements: LabelRequirement[] = [];
  for (const part of splitTopLevel(text)) {
    const term = part.trim();
    if (term === '') continue;
    requirements.push(parseRequirement(term));
  }
  return requirements;
}

function parseRequirement(term: string): LabelRequirement {
  let match = /^!\s*([^\s=!(),]+)$/.exec(term);
  if (match) return { op: 'notexists', key: checkKey(match[1] ?? '') };
  match = /^([^\s=!(),]+)\s+(in|notin)\s+\(([^()]*)\)$/.exec(term);
  if (match) {
    const values = (match[3] ?? '').split(',').map((v) => v.trim());
    for (const v of values) checkValue(v);
    return { op: match[2] === 'in' ? 'in' : 'notin', key: checkKey(match[1] ?? ''), values };
  }
  match = /^([^\s=!(),]+)\s*(==|=|!=)\s*([^\s=!(),]*)$/.exec(term);
  if (match) {
    const value = checkValue(match[3] ?? '');
    return { op: match[2] === '!=' ? 'notin' : 'in', key: checkKey(match[1] ?? ''), values: [value] };
  }
  match = /^([^\s=!(),]+)$/.exec(term);
  if (match) return { op: 'exists', key: checkKey(match[1] ?? '') };
  throw bad(`unable to parse requirement: ${JSON.stringify(term)}`);
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (depth < 0 || depth > 1) throw bad('unbalanced parentheses in labelSelector');
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (depth !== 0) throw bad('unbalanced parentheses in labelSelector');
  parts.push(current);
  return parts;
}

function checkKey(key: string): string {
  const errors = qualifiedNameErrors(key);
  if (errors.length > 0) throw bad(`invalid label key ${JSON.stringify(key)}: ${errors.join('; ')}`);
  return key;
}

function checkValue(value: string): string {
  const errors = labelValueErrors(value);
  if (errors.length > 0) throw bad(`invalid label value: ${JSON.stringify(value)}: ${errors.join('; ')}`);
  return value;
}

/** The label `key` of an object: only its own labels, never what its prototype has (`constructor`, `toString`). */
function labelValue(labels: Readonly<Record<string, string>> | undefined, key: string): string | undefined {
  return labels !== undefined && Object.hasOwn(labels, key) ? labels[key] : undefined;
}

export function matchesLabels(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  return selector.every((r) => {
    const value = labelValue(labels, r.key);
    switch (r.op) {
      case 'exists': return value !== undefined;
      case 'notexists': return value === undefined;
      case 'in': return value !== undefined && r.values.includes(value);
      case 'notin': return value === undefined || !r.values.includes(value);
    }
  });
}

export interface FieldRequirement {
  /** metadata.name, metadata.namespace, or a field the resource type makes selectable (a Secret's `type`). */
  field: string;
  equal: boolean;
  value: string;
}

export type FieldSelector = readonly FieldRequirement[];

const metadataFields: readonly string[] = ['metadata.name', 'metadata.namespace'];

/** Parses a field selector; `selectable` names the top-level fields of the type one may select on. */
export function parseFieldSelector(text: string, selectable: readonly string[] = []): FieldSelector {
  if (text.length > selectorLengthMax) throw bad(`fieldSelector is longer than ${selectorLengthMax} characters`);
  const supported = [...metadataFields, ...selectable];
  const requirements: FieldRequirement[] = [];
  for (const part of text.split(',')) {
    const term = part.trim();
    if (term === '') continue;
    const match = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
    const field = match?.[1];
    if (!match || field === undefined || !supported.includes(field)) {
      throw bad(`field label not supported: ${JSON.stringify(field ?? term)} (${supported.join(', ')} are)`);
    }
    requirements.push({ field, equal: match[2] !== '!=', value: match[3] ?? '' });
  }
  return requirements;
}

export function matchesFields(selector: FieldSelector, object: StoredObject): boolean {
  return selector.every((r) => (fieldValue(object, r.field) === r.value) === r.equal);
}

function fieldValue(object: StoredObject, field: string): string {
  if (field === 'metadata.name') return object.metadata.name;
  if (field === 'metadata.namespace') return object.metadata.namespace ?? '';
  // An own field only: a client names it, and the prototype's are no fields of the object.
  const value = Object.hasOwn(object, field) ? object[field] : undefined;
  return typeof value === 'string' ? value : '';
}

function bad(message: string): RegistryError {
  return new RegistryError('BadRequest', message);
}
