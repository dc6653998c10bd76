/**
 * Reading policy YAML: the default policies in `policies/` at a cluster's first start, and whatever
 * `coffer policy apply -f FILE_OR_DIR` is given. Parsing and selecting are pure (`parsePolicyYaml`,
 * `selectRbacObjects`); only `readPolicyDocuments` touches the file system.
 *
 * A policy directory holds more than RBAC (`policies/audit.yaml` is the audit policy), so documents
 * of other API groups are handed back untouched in `others` for their owner to read. A document of
 * the RBAC group in any version but v1 is an error rather than skipped: a typo must not drop a rule
 * silently. A Kubernetes `v1 List` is unpacked into its items.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { policyDocumentsMax, policyFileBytesMax } from '../config/index.ts';
import { RbacError, isRbacError } from './errors.ts';
import { type RbacObject, rbacApiGroup, rbacApiVersion } from './model.ts';
import { parseRbacObject } from './validate.ts';

export interface PolicyDocument {
  /** Where it came from: the file path, with `#<n>` for the n-th document (from 1) and `.items[i]` inside a List. */
  source: string;
  value: Record<string, unknown>;
}

export interface SelectedPolicies {
  rbac: RbacObject[];
  /** Documents of other API groups (the audit policy), in file order. */
  others: PolicyDocument[];
}

/** Splits a YAML stream into documents; empty documents are skipped. Throws INVALID_POLICY_FILE. */
export function parsePolicyYaml(text: string, source: string): PolicyDocument[] {
  const documents: PolicyDocument[] = [];
  const stream = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  const list = Array.isArray(stream) ? stream : [];
  list.forEach((document, i) => {
    const where = `${source}#${i + 1}`;
    const problem = document.errors[0];
    if (problem !== undefined) throw new RbacError('INVALID_POLICY_FILE', `${where}: not valid YAML: ${problem.message}`);
    let value: unknown;
    try {
      // maxAliasCount bounds alias expansion (a "billion laughs" document cannot exhaust memory).
      value = document.toJS({ maxAliasCount: 100 });
    } catch (cause) {
      throw new RbacError('INVALID_POLICY_FILE', `${where}: ${cause instanceof Error ? cause.message : 'cannot be read'}`, { cause });
    }
    if (value === null || value === undefined) return;
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new RbacError('INVALID_POLICY_FILE', `${where}: a policy document must be an object with apiVersion and kind`);
    }
    const fields = value as Record<string, unknown>;
    if (fields.apiVersion === 'v1' && fields.kind === 'List') {
      const items = fields.items;
      if (!Array.isArray(items)) throw new RbacError('INVALID_POLICY_FILE', `${where}: a List must have items`);
      items.forEach((item: unknown, j) => {
        if (typeof item !== 'object' || item === null || Array.isArray(item)) {
          throw new RbacError('INVALID_POLICY_FILE', `${where}.items[${j}]: must be an object with apiVersion and kind`);
        }
        documents.push({ source: `${where}.items[${j}]`, value: item as Record<string, unknown> });
      });
    } else {
      documents.push({ source: where, value: fields });
    }
    if (documents.length > policyDocumentsMax) {
      throw new RbacError('LIMIT_EXCEEDED', `${source}: more than policyDocumentsMax (${policyDocumentsMax}) documents`);
    }
  });
  return documents;
}

/**
 * Validates the RBAC documents and sets the others aside. Every error names the document's source;
 * an object defined twice (same kind, namespace and name) is DUPLICATE_OBJECT.
 */
export function selectRbacObjects(documents: readonly PolicyDocument[]): SelectedPolicies {
  const rbac: RbacObject[] = [];
  const others: PolicyDocument[] = [];
  const firstSource = new Map<string, string>();
  for (const document of documents) {
    const { apiVersion, kind } = document.value;
    if (typeof apiVersion !== 'string' || apiVersion === '' || typeof kind !== 'string' || kind === '') {
      throw new RbacError('INVALID_POLICY_FILE', `${document.source}: a policy document must have apiVersion and kind`);
    }
    if (apiVersion !== rbacApiVersion && !apiVersion.startsWith(`${rbacApiGroup}/`)) {
      others.push(document);
      continue;
    }
    let object: RbacObject;
    try {
      object = parseRbacObject(document.value);
    } catch (error) {
      if (!isRbacError(error)) throw error;
      throw new RbacError(error.code, `${document.source}: ${error.message}`, { causes: error.causes, cause: error });
    }
    const key = `${object.kind}\0${object.metadata.namespace ?? ''}\0${object.metadata.name}`;
    const earlier = firstSource.get(key);
    if (earlier !== undefined) {
      throw new RbacError('DUPLICATE_OBJECT', `${document.source}: ${object.kind} ${JSON.stringify(object.metadata.name)} is already defined at ${earlier}`);
    }
    firstSource.set(key, document.source);
    rbac.push(object);
  }
  return { rbac, others };
}

/**
 * Reads one YAML file, or every `*.yaml` / `*.yml` file directly in a directory in name order (not
 * recursive, hidden files skipped). Throws POLICY_UNREADABLE, LIMIT_EXCEEDED or INVALID_POLICY_FILE.
 */
export async function readPolicyDocuments(path: string): Promise<PolicyDocument[]> {
  const info = await stat(path).catch((cause: unknown) => {
    throw new RbacError('POLICY_UNREADABLE', `cannot read policy path ${JSON.stringify(path)}: ${codeOf(cause)}`, { cause });
  });
  let files = [path];
  if (info.isDirectory()) {
    const names = await readdir(path).catch((cause: unknown) => {
      throw new RbacError('POLICY_UNREADABLE', `cannot list policy directory ${JSON.stringify(path)}: ${codeOf(cause)}`, { cause });
    });
    files = names.filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('.')).sort().map((n) => join(path, n));
  }
  const documents: PolicyDocument[] = [];
  for (const file of files) {
    const fileInfo = await stat(file).catch((cause: unknown) => {
      throw new RbacError('POLICY_UNREADABLE', `cannot read policy file ${JSON.stringify(file)}: ${codeOf(cause)}`, { cause });
    });
    if (!fileInfo.isFile()) continue;
    if (fileInfo.size > policyFileBytesMax) {
      throw new RbacError('LIMIT_EXCEEDED', `policy file ${JSON.stringify(file)} is ${fileInfo.size} bytes, over policyFileBytesMax (${policyFileBytesMax})`);
    }
    const text = await readFile(file, 'utf8').catch((cause: unknown) => {
      throw new RbacError('POLICY_UNREADABLE', `cannot read policy file ${JSON.stringify(file)}: ${codeOf(cause)}`, { cause });
    });
    // Checked again after reading: the file may have grown since stat().
    if (Buffer.byteLength(text) > policyFileBytesMax) {
      throw new RbacError('LIMIT_EXCEEDED', `policy file ${JSON.stringify(file)} is over policyFileBytesMax (${policyFileBytesMax})`);
    }
    documents.push(...parsePolicyYaml(text, file));
    if (documents.length > policyDocumentsMax) {
      throw new RbacError('LIMIT_EXCEEDED', `${JSON.stringify(path)}: more than policyDocumentsMax (${policyDocumentsMax}) documents`);
    }
  }
  return documents;
}

/** Reads a policy file or directory and returns its validated RBAC objects and the other documents. */
export async function loadPolicies(path: string): Promise<SelectedPolicies> {
  return selectRbacObjects(await readPolicyDocuments(path));
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unknown error';
}
