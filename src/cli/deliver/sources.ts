/**
 * What `coffer exec` and `coffer render` deliver: named Secrets and ConfigMaps of one namespace, and the
 * values each holds as bytes. A Secret's values are its `data` (base64 on the wire); a ConfigMap's are
 * its `data` (text) and `binaryData` (base64). A Secret the server sent without its data (the caller
 * may list it but not get it) is refused: delivering nothing in its place would hide the problem.
 */
import type { K8sObject } from '../../client/index.ts';
import { isRedacted } from '../commands/k8s-common.ts';
import { CliError } from '../errors.ts';

export type SourceKind = 'secret' | 'configmap';

export interface Source {
  kind: SourceKind;
  name: string;
  namespace: string;
  /** Put before each environment variable's name (exec's NAME:PREFIX); '' for none. */
  prefix: string;
}

/** A source's values at one resourceVersion. The follower owns the buffers and wipes them once replaced. */
export interface SourceValues {
  source: Source;
  resourceVersion: string;
  /** 'pending' when the values are a Secret's pending stage (exec and render with --stage pending). */
  stage: 'current' | 'pending';
  values: Map<string, Buffer>;
}

/** `secret default/db`, as messages name a source. */
export function describeSource(source: Source): string {
  return `${source.kind} ${source.namespace}/${source.name}`;
}

/** `NAME` or `NAME:PREFIX` of --secret and --configmap; the prefix must be a valid variable-name start. */
export function parseSource(kind: SourceKind, text: string, namespace: string): Source {
  const at = text.indexOf(':');
  const name = at < 0 ? text : text.slice(0, at);
  const prefix = at < 0 ? '' : text.slice(at + 1);
  if (name === '') throw new CliError(`--${kind} ${JSON.stringify(text)}: the name may not be empty`);
  if (prefix !== '' && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(prefix)) {
    throw new CliError(`--${kind} ${JSON.stringify(text)}: the prefix must be letters, digits and "_", not starting with a digit`);
  }
  return { kind, name, namespace, prefix };
}

/** The values an object holds; the caller owns the buffers. */
export function valuesOf(source: Source, object: K8sObject): Map<string, Buffer> {
  if (source.kind === 'secret' && isRedacted(object)) {
    throw new CliError(`${describeSource(source)}: you may list it but not get it, so its values were not sent (ask for "get" on it)`);
  }
  const values = new Map<string, Buffer>();
  const add = (map: unknown, encoding: 'base64' | 'utf8') => {
    if (typeof map !== 'object' || map === null) return;
    for (const [key, value] of Object.entries(map as Record<string, unknown>)) {
      if (typeof value === 'string') values.set(key, Buffer.from(value, encoding));
    }
  };
  if (source.kind === 'secret') add(object.data, 'base64');
  else {
    add(object.data, 'utf8');
    add(object.binaryData, 'base64');
  }
  return values;
}

export function sameValues(a: ReadonlyMap<string, Buffer>, b: ReadonlyMap<string, Buffer>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) {
    const other = b.get(key);
    if (other === undefined || !other.equals(value)) return false;
  }
  return true;
}

export function wipeValues(values: ReadonlyMap<string, Buffer>): void {
  for (const value of values.values()) value.fill(0);
}
