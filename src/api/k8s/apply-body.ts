/**
 * The body of a server-side apply (`application/apply-patch+yaml`, PATCH only): one YAML document (YAML
 * 1.2 core schema; JSON, which kubectl sends, is YAML too), aliases bounded, duplicate keys refused. The
 * YAML parser is slow (2–4 µs a token) and recursive, so the text is refused while it is read once it holds
 * more than applyYamlTokensMax tokens or nests deeper than requestBodyDepthMax, before anything is built;
 * duplicate keys are found afterwards in one pass, a Set per mapping (the parser's own check compares each
 * key with every earlier one). A parse error names the line only: the parser's own message quotes the
 * source, which may hold a Secret value, so it never leaves here.
 */
import { type CST, Composer, type Document, isScalar, Lexer, LineCounter, Parser, visit } from 'yaml';
import { applyYamlAliasesMax, applyYamlTokensMax, requestBodyDepthMax } from '../../config/index.ts';
import { RegistryError } from '../../registry/index.ts';

export const applyContentType = 'application/apply-patch+yaml';

const unreadable = (why: string, line?: number): RegistryError =>
  new RegistryError('BadRequest', `the applied configuration cannot be read: ${why}${line !== undefined ? ` (line ${line})` : ''}`);

export function parseApplyBody(text: string): unknown {
  const lines = new LineCounter();
  const lineAt = (offset: number): number | undefined => (offset >= 0 ? lines.linePos(offset).line : undefined);
  const documents: Document.Parsed[] = [];
  // Composed as the tokens come (forced: an empty text is one empty document).
  for (const next of new Composer({ schema: 'core', uniqueKeys: false }).compose(boundedTokens(text, lines), true, text.length)) {
    if (documents.length > 0) throw unreadable('it holds more than one document', lineAt(next.range[0]));
    documents.push(next);
  }
  const [document] = documents as [Document.Parsed];
  const error = document.errors[0];
  if (error !== undefined) throw unreadable('it is not valid YAML or JSON', lineAt(error.pos[0]));
  const repeated = repeatedKey(document);
  if (repeated !== undefined) throw unreadable('a key appears twice', lineAt(repeated));
  try {
    return document.toJS({ maxAliasCount: applyYamlAliasesMax });
  } catch {
    throw unreadable(`it expands more than ${applyYamlAliasesMax} aliases`);
  }
}

const collectionTypes: ReadonlySet<string> = new Set(['block-map', 'block-seq', 'flow-collection']);

/** The parser's tokens of `text`, refused once there are too many or the collections open are too deep. */
function* boundedTokens(text: string, lines: LineCounter): Generator<CST.Token> {
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0);
  let count = 0;
  for (const lexeme of new Lexer().lex(text)) {
    if (++count > applyYamlTokensMax) throw unreadable(`it holds more than ${applyYamlTokensMax} YAML tokens`);
    yield* parser.next(lexeme);
    // The parser's stack holds the document and the collections open, and at most a scalar above them.
    if (parser.stack.length > requestBodyDepthMax && parser.stack.filter((token) => collectionTypes.has(token.type)).length > requestBodyDepthMax) {
      throw unreadable(`it is nested deeper than ${requestBodyDepthMax} levels`);
    }
  }
  yield* parser.end();
}

/** Where the first key repeated in its mapping is (equal scalar values, as the parser's own check compares them). */
function repeatedKey(document: Document.Parsed): number | undefined {
  let first: number | undefined;
  visit(document, {
    Map(_, map) {
      const keys = new Set<unknown>();
      for (const { key } of map.items) {
        if (!isScalar(key)) continue;
        if (keys.has(key.value)) first = Math.min(first ?? Infinity, key.range?.[0] ?? 0);
        keys.add(key.value);
      }
    },
  });
  return first;
}
