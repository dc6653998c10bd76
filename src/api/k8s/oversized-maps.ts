/**
 * A write body's maps checked as the body arrives (registry/map-entries.ts, objectMapEntriesMax): a body
 * whose map holds more entries than any object may is refused, 422 Invalid naming the field and the limit,
 * in the route's preValidation hook — after the gate, before the audit step shapes the request's record
 * (which would digest every value) and before the registry reads it (which would track every key). The
 * request is still recorded, once, with its answer (audit-plugin.ts).
 */
import type { FastifyRequest } from 'fastify';
import { arrivingMapCauses, invalidError, type ResourceType } from '../../registry/index.ts';

/** The route option refusing a body for `type` whose maps hold too many entries, before anything reads it. */
export function refuseOversizedMaps(type: ResourceType): { preValidation: (request: FastifyRequest) => Promise<void> } {
  return {
    preValidation: (request) => {
      const causes = arrivingMapCauses(type.resource, request.body);
      if (causes.length === 0) return Promise.resolve();
      const { name } = request.params as { name?: string };
      const meta = (request.body as { metadata?: { name?: unknown; generateName?: unknown } }).metadata;
      const named = name ?? (typeof meta?.name === 'string' ? meta.name : typeof meta?.generateName === 'string' ? meta.generateName : '');
      return Promise.reject(invalidError(type.kind, named, type.group, causes));
    },
  };
}
