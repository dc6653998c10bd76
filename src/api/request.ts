/**
 * The one parsed request. Every client request is parsed here exactly once, strictly, before routing:
 * its path into decoded segments, its query into single-valued parameters, its `watch` flag, and from
 * those its RBAC attributes (request-info.ts). The router then sees the request's canonical URL (each
 * segment and parameter re-encoded one way), so authorization, the handler, metrics and the audit
 * record all read the same request: there is no second reading of the raw URL that could disagree.
 *
 * A URL that cannot be read one way only is refused (400, or 414 when too long) — and audited like any
 * other request (app.ts): bad percent-encoding, an encoded `/` inside a segment, empty, `.` or `..`
 * segments, control characters, a fragment, a repeated query parameter, a `watch` that is neither true
 * nor false.
 *
 * Invariants: a ParsedRequest's `canonicalUrl` parses back to the same segments and query; `info` is a
 * function of (method, segments, watch, fieldSelector) only — the query's own `fieldSelector`, the one
 * the handler filters with.
 */
import type { IncomingMessage } from 'node:http';
import { CofferError } from '../base/index.ts';
import { requestPathBytesMax, requestQueryBytesMax, requestQueryParamsMax } from '../config/index.ts';
import { requestInfo, type RequestInfo } from './request-info.ts';

export interface ParsedRequest {
  readonly ok: true;
  readonly method: string;
  /** The request target as received (what the audit record shows). */
  readonly rawUrl: string;
  /** The canonical path: every segment decoded, then re-encoded with encodeURIComponent. */
  readonly path: string;
  readonly segments: readonly string[];
  /** Query parameters, decoded, each given at most once. */
  readonly query: Readonly<Record<string, string>>;
  /** `?watch=` as a flag (true|1 or false|0, any case). */
  readonly watch: boolean;
  readonly info: RequestInfo;
  /** What the router is given: path and query in canonical form. */
  readonly canonicalUrl: string;
}

export interface RefusedRequest {
  readonly ok: false;
  readonly method: string;
  readonly rawUrl: string;
  readonly code: 400 | 414;
  /** Says what is wrong, never echoing more than a short, quoted piece of the URL. */
  readonly message: string;
  readonly info: RequestInfo;
}

export type RequestParse = ParsedRequest | RefusedRequest;

/** Where the router sends a refused request: no route matches it, so only the refusal answers. */
const refusedRequestPath = '/';

/**
 * Where the router sends a refused request whose raw URL is under one of `apiPrefixes` (an API that
 * speaks its own dialect, dialect.ts): a path under that prefix no route serves, so the refusal is
 * answered in that API's dialect; refusedRequestPath (Kubernetes `Status`) for any other.
 */
export function refusedPathFor(rawUrl: string, apiPrefixes: readonly string[]): string {
  const prefix = apiPrefixes.find((p) => rawUrl.startsWith(`${p}/`) || rawUrl === p || rawUrl.startsWith(`${p}?`));
  return prefix === undefined ? refusedRequestPath : `${prefix}/`;
}

class UrlError extends CofferError {
  constructor(readonly code: 400 | 414, message: string) {
    super(message);
  }
}

export function parseRequest(method: string, rawUrl: string): RequestParse {
  try {
    return parse(method, rawUrl);
  } catch (error) {
    if (!(error instanceof UrlError)) throw error;
    // A refused request is still attributed: as a non-resource request on no path, so RBAC rules for
    // real paths never match it and its audit record names the raw URL.
    return { ok: false, method, rawUrl, code: error.code, message: error.message, info: { isResource: false, verb: method.toLowerCase(), path: '' } };
  }
}

function parse(method: string, rawUrl: string): ParsedRequest {
  if (!rawUrl.startsWith('/')) throw new UrlError(400, 'the request target must be a path starting with "/"');
  if (rawUrl.includes('#')) throw new UrlError(400, 'the request target must not carry a fragment ("#")');
  const mark = rawUrl.indexOf('?');
  const rawPath = mark === -1 ? rawUrl : rawUrl.slice(0, mark);
  const rawQuery = mark === -1 ? '' : rawUrl.slice(mark + 1);
  if (Buffer.byteLength(rawPath) > requestPathBytesMax) throw new UrlError(414, `the request path is longer than ${requestPathBytesMax} bytes`);
  if (Buffer.byteLength(rawQuery) > requestQueryBytesMax) throw new UrlError(414, `the query string is longer than ${requestQueryBytesMax} bytes`);
  const segments = rawPath === '/' ? [] : rawPath.slice(1).split('/').map(decodeSegment);
  const query = parseQuery(rawQuery);
  const watch = flag(query, 'watch');
  // A HEAD answer has no body, so a watch on it would stream nothing and never end.
  if (watch && method.toUpperCase() === 'HEAD') throw new UrlError(400, 'a watch cannot be a HEAD request; use GET');
  const path = `/${segments.map(encodeURIComponent).join('/')}`;
  const entries = Object.entries(query);
  const canonicalQuery = entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return {
    ok: true, method, rawUrl, path, segments, query, watch,
    info: requestInfo(method, path, segments, watch, query.fieldSelector),
    canonicalUrl: canonicalQuery === '' ? path : `${path}?${canonicalQuery}`,
  };
}

const badEscape = /%(?![0-9A-Fa-f]{2})/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const controlCharacter = /[\u0000-\u001f\u007f]/;

function decodeSegment(raw: string): string {
  if (raw === '') throw new UrlError(400, 'the request path has an empty segment ("//" or a trailing "/")');
  const value = decodeStrict(raw, 'a path segment');
  if (value.includes('/')) throw new UrlError(400, 'a path segment must not contain an encoded "/"');
  if (value === '.' || value === '..') throw new UrlError(400, 'the request path must not contain "." or ".." segments');
  return value;
}

function decodeStrict(raw: string, what: string): string {
  let value: string;
  try {
    if (badEscape.test(raw)) throw new Error('bad escape');
    value = decodeURIComponent(raw);
  } catch {
    throw new UrlError(400, `${what} has invalid percent-encoding: ${quote(raw)}`);
  }
  if (controlCharacter.test(value)) throw new UrlError(400, `${what} contains a control character: ${quote(raw)}`);
  return value;
}

/**
 * Query parameters as `application/x-www-form-urlencoded` says (`+` is a space), each at most once:
 * a repeated parameter could be read two ways (first or last), so it is refused.
 */
export function parseQuery(raw: string): Record<string, string> {
  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  let count = 0;
  for (const piece of raw.split('&')) {
    if (piece === '') continue;
    count += 1;
    if (count > requestQueryParamsMax) throw new UrlError(414, `the query has more than ${requestQueryParamsMax} parameters`);
    const eq = piece.indexOf('=');
    const key = decodeStrict((eq === -1 ? piece : piece.slice(0, eq)).replaceAll('+', ' '), 'a query parameter name');
    const value = eq === -1 ? '' : decodeStrict(piece.slice(eq + 1).replaceAll('+', ' '), `query parameter ${quote(key)}`);
    if (key === '') throw new UrlError(400, 'a query parameter has no name');
    if (Object.hasOwn(query, key)) throw new UrlError(400, `query parameter ${quote(key)} is given more than once`);
    query[key] = value;
  }
  return { ...query };
}

/** A boolean query parameter: absent is false; true|1 and false|0 in any case; anything else is refused. */
function flag(query: Readonly<Record<string, string>>, name: string): boolean {
  const value = query[name];
  if (value === undefined) return false;
  const lower = value.toLowerCase();
  if (lower === 'true' || lower === '1') return true;
  if (lower === 'false' || lower === '0') return false;
  throw new UrlError(400, `query parameter ${quote(name)} must be true or false, not ${quote(value)}`);
}

function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

/** Each request's parse, keyed by the raw request it came from (set before routing; nothing outlives the request). */
const parses = new WeakMap<IncomingMessage, RequestParse>();

/**
 * fastify's `rewriteUrl`: parses the raw request once and gives the router its canonical URL (a
 * refused request gets a path no route serves, so only the refusal can answer it).
 */
export function rewriteToCanonical(raw: IncomingMessage, apiPrefixes: readonly string[] = []): string {
  const parsed = parseRequest(raw.method ?? 'GET', raw.url ?? '');
  parses.set(raw, parsed);
  return parsed.ok ? parsed.canonicalUrl : refusedPathFor(parsed.rawUrl, apiPrefixes);
}

/** The request's parse, as rewriteToCanonical made it. */
export function parseOf(raw: IncomingMessage): RequestParse {
  const parsed = parses.get(raw);
  if (parsed === undefined) throw new Error('invariant violated: a request reached the API without passing rewriteToCanonical');
  return parsed;
}

/** The parsed request of a request that passed the gate (handlers call this; a refused one never reaches them). */
export function parsedRequest(raw: IncomingMessage): ParsedRequest {
  const parsed = parseOf(raw);
  if (!parsed.ok) throw new Error('invariant violated: a refused request reached a handler');
  return parsed;
}

/**
 * fastify's query-string parser for canonical URLs: the same parser, so `request.query` is exactly the
 * parse authorization read. (A canonical query always parses; the refused ones never reach here.)
 */
export function querystringParser(raw: string): Record<string, string> {
  return parseQuery(raw);
}

/**
 * Whether the router's reading of the path (the route's pattern with its params filled in) is the
 * parsed path: a route whose params decode differently than the gate would be served the wrong object.
 */
export function routeMatchesPath(routeUrl: string | undefined, params: unknown, parsed: ParsedRequest): boolean {
  if (routeUrl === undefined) return true;
  const values = (params ?? {}) as Record<string, string>;
  const filled = routeUrl.split('/').map((part) => {
    if (!part.startsWith(':')) return part;
    const value = values[part.slice(1)];
    return value === undefined ? part : encodeURIComponent(value);
  }).join('/');
  return filled === parsed.path;
}
