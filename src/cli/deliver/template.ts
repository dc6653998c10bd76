/**
 * `coffer render --template FILE`: text with references to values, `{{ secret "NAME" "KEY" }}` and
 * `{{ configmap "NAME" "KEY" }}` (spaces inside the braces as you like), each replaced by that value's
 * bytes. Any other text, other `{{ … }}` included, is copied as it is. A reference that is malformed,
 * names a source not given with --secret/--configmap, or a key the source does not hold, is refused with
 * its line number — never with a value.
 */
import { CliError } from '../errors.ts';
import { describeSource, type SourceKind, type Source, type SourceValues } from './sources.ts';

interface Reference {
  kind: SourceKind;
  name: string;
  key: string;
  line: number;
}

export type Template = readonly (string | Reference)[];

const reference = /\{\{\s*(secret|configmap)\s+"([^"]*)"\s+"([^"]*)"\s*\}\}/g;
const looksLikeReference = /\{\{\s*(?:secret|configmap)\b/g;

/** Parses `text`; every reference must name one of `sources`. */
export function parseTemplate(text: string, sources: readonly Source[], file: string): Template {
  const parts: (string | Reference)[] = [];
  const lineAt = (index: number) => text.slice(0, index).split('\n').length;
  let end = 0;
  for (const match of text.matchAll(reference)) {
    const [whole, kind, name, key] = match as unknown as [string, SourceKind, string, string];
    const line = lineAt(match.index);
    if (!sources.some((s) => s.kind === kind && s.name === name)) {
      throw new CliError(`${file}:${line}: ${kind} ${JSON.stringify(name)} is not given with --${kind}`);
    }
    checkNoStray(text.slice(end, match.index), end, file, lineAt);
    parts.push(text.slice(end, match.index), { kind, name, key, line });
    end = match.index + whole.length;
  }
  checkNoStray(text.slice(end), end, file, lineAt);
  parts.push(text.slice(end));
  return parts.filter((p) => p !== '');
}

/** A `{{ secret …` or `{{ configmap …` that is not a whole reference is a mistake worth naming. */
function checkNoStray(between: string, offset: number, file: string, lineAt: (index: number) => number): void {
  const stray = looksLikeReference.exec(between);
  looksLikeReference.lastIndex = 0;
  if (stray !== null) throw new CliError(`${file}:${lineAt(offset + stray.index)}: write a value as {{ secret "NAME" "KEY" }} or {{ configmap "NAME" "KEY" }}`);
}

/** The rendered bytes; the caller wipes them once written. */
export function renderTemplate(template: Template, snapshot: readonly SourceValues[], file: string): Buffer {
  const chunks = template.map((part) => {
    if (typeof part === 'string') return Buffer.from(part, 'utf8');
    const found = snapshot.find((s) => s.source.kind === part.kind && s.source.name === part.name);
    const value = found?.values.get(part.key);
    if (found === undefined || value === undefined) {
      throw new CliError(`${file}:${part.line}: ${found === undefined ? `${part.kind} ${part.name}` : describeSource(found.source)} has no key ${JSON.stringify(part.key)}`);
    }
    return value;
  });
  return Buffer.concat(chunks);
}
