/**
 * What every write handler passes to the registry from the parsed request: who writes (the version
 * history's createdBy) and whether it is a dry run. `dryRun=All` is the only value Kubernetes defines;
 * anything else is refused (400) rather than taken as a real write.
 */
import type { FastifyRequest } from 'fastify';
import { RegistryError, type WriteOptions } from '../../registry/index.ts';
import { parsedRequest } from '../request.ts';
import { callerFor } from './authorization.ts';

export function writeOptionsOf(request: FastifyRequest): Required<Pick<WriteOptions, 'actor' | 'dryRun'>> {
  return { actor: callerFor(request).user, dryRun: isDryRun(request) };
}

export function isDryRun(request: FastifyRequest): boolean {
  const value = parsedRequest(request.raw).query.dryRun;
  if (value === undefined || value === '') return false;
  if (value === 'All') return true;
  throw new RegistryError('BadRequest', `dryRun ${JSON.stringify(value.slice(0, 32))} is not supported: the only value is "All"`);
}
