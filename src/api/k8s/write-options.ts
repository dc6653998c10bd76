/**
 * What every write handler passes to the registry from the parsed request: who writes (the version
 * history's createdBy) and whether it is a dry run (../dry-run.ts). `All` is the only value Kubernetes defines;
 * anything else is refused (400) rather than taken as a real write.
 */
import type { FastifyRequest } from 'fastify';
import { RegistryError, type WriteOptions } from '../../registry/index.ts';
import { dryRunValues, isValidDryRun } from '../dry-run.ts';
import { callerFor } from './authorization.ts';

export function writeOptionsOf(request: FastifyRequest): Required<Pick<WriteOptions, 'actor' | 'dryRun'>> {
  return { actor: callerFor(request).user, dryRun: isDryRun(request) };
}

export function isDryRun(request: FastifyRequest): boolean {
  const values = dryRunValues(request);
  if (values.length === 0) return false;
  if (isValidDryRun(values)) return true;
  const bad = values.find((v) => v !== 'All') ?? '';
  throw new RegistryError('BadRequest', `dryRun ${JSON.stringify(bad.slice(0, 32))} is not supported: the only value is "All"`);
}
