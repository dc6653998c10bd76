/**
 * The body of a server-side apply (`application/apply-patch+yaml`): one YAML document (YAML 1.2 core
 * schema; JSON, which kubectl sends, is YAML too), aliases bounded, duplicate keys refused. A parse
 * error names the line only: the parser's own message quotes the source, which may hold a Secret value,
 * so it never leaves here.
 */
import { parseDocument } from 'yaml';
import { applyYamlAliasesMax } from '../../config/index.ts';
import { RegistryError } from '../../registry/index.ts';

export const applyContentType = 'application/apply-patch+yaml';

export function parseApplyBody(text: string): unknown {
  const document = parseDocument(text, { schema: 'core', uniqueKeys: true, prettyErrors: true });
  const error = document.errors[0];
  if (error !== undefined) {
    const line = error.linePos?.[0]?.line;
    const why = error.code === 'MULTIPLE_DOCS' ? 'it holds more than one document' : error.code === 'DUPLICATE_KEY' ? 'a key appears twice' : 'it is not valid YAML or JSON';
    throw new RegistryError('BadRequest', `the applied configuration cannot be read: ${why}${line !== undefined ? ` (line ${line})` : ''}`);
  }
  try {
    return document.toJS({ maxAliasCount: applyYamlAliasesMax });
  } catch {
    throw new RegistryError('BadRequest', `the applied configuration cannot be read: it expands more than ${applyYamlAliasesMax} aliases`);
  }
}
