/**
 * Where a request asks for Kubernetes' dry run: the `dryRun` query parameter, or — as kubectl sends it
 * on a delete — the `dryRun` list of the DeleteOptions body. Both are read here, once, so the handler
 * that must not write and the audit record that says "dry run" can never disagree.
 *
 * The result is every value asked for; `dryRun=All` is the only one Kubernetes defines, and the
 * handlers refuse the rest (write-options.ts) rather than take them as a real write.
 */
import type { FastifyRequest } from 'fastify';
import { parsedRequest } from './request.ts';

/** The dry-run values the request carries (empty: a real write); a body field that is not a list of strings is one invalid value. */
export function dryRunValues(request: FastifyRequest): string[] {
  const values: string[] = [];
  const query = parsedRequest(request.raw).query.dryRun;
  if (query !== undefined && query !== '') values.push(query);
  const body = request.body;
  if (request.method === 'DELETE' && body !== null && typeof body === 'object' && 'dryRun' in body) {
    const listed: unknown = body.dryRun;
    if (Array.isArray(listed)) {
      for (const value of listed) values.push(typeof value === 'string' ? value : String(JSON.stringify(value)));
    } else if (listed !== undefined && listed !== null) {
      values.push(String(JSON.stringify(listed)));
    }
  }
  return values;
}

/** True when the request is a dry run Kubernetes defines (every value asked for is All). */
export function isValidDryRun(values: readonly string[]): boolean {
  return values.length > 0 && values.every((v) => v === 'All');
}
