/**
 * The Lease calls on the JSON gateway, in etcd 3.4's gateway shape (`/v3/lease/grant`, `revoke`,
 * `timetolive`, `leases`, and `keepalive` as one renewal per request — etcd's gateway streams it), over
 * the implementation the gRPC Lease service uses (lease-service.ts). IDs and TTLs are decimal strings
 * in responses, as the gateway encodes 64-bit integers.
 */
import type { FastifyInstance } from 'fastify';
import { callerFor } from '../k8s/authorization.ts';
import { auditInEntryRoute, readOnlyRoute } from '../route-config.ts';
import { b64, BadFieldError, bool, encodeHeader, id, int, int64, object } from './json.ts';
import type { KvService } from './service.ts';

/** The Lease routes, on `app` scoped under kvPrefix (plugin.ts); time-to-live and the list only read. */
export function registerLeaseRoutes(app: FastifyInstance, service: KvService): void {
  const header = (revision?: number) => encodeHeader(service.header(revision));
  const body = (value: unknown) => object(value, 'body');
  const leaseId = (value: unknown) => {
    const leased = id(body(value), 'ID');
    if (leased === undefined || leased === 0) throw new BadFieldError('ID', 'is required');
    return leased;
  };

  app.post('/lease/grant', auditInEntryRoute, async (request) => {
    const b = body(request.body);
    const granted = await service.leases.grant(callerFor(request), int(b, 'ID') ?? 0, int(b, 'TTL') ?? 0);
    return { header: header(granted.revision), ID: int64(granted.id), TTL: int64(granted.ttl) };
  });

  // etcd 3.4 binds revoke, timetolive and leases under /v3/kv/lease/ too (rpc.proto's additional_bindings).
  for (const prefix of ['/lease', '/kv/lease']) {
    app.post(`${prefix}/revoke`, auditInEntryRoute, async (request) => {
      const revoked = await service.leases.revoke(callerFor(request), leaseId(request.body));
      return { header: header(revoked.revision) };
    });

    app.post(`${prefix}/timetolive`, readOnlyRoute, async (request) => {
      const lease = await service.leases.timeToLive(callerFor(request), leaseId(request.body), bool(body(request.body), 'keys'));
      // The ID asked for, as etcd answers it: one no member can hold is told as it came.
      return { header: header(), ID: String(body(request.body).ID), TTL: int64(lease.ttl), grantedTTL: int64(lease.grantedTtl), keys: lease.keys.map(b64) };
    });

    app.post(`${prefix}/leases`, readOnlyRoute, async (request) => ({ header: header(), leases: (await service.leases.list(callerFor(request))).map((held) => ({ ID: int64(held) })) }));
  }

  app.post('/lease/keepalive', auditInEntryRoute, async (request) => {
    const renewed = await service.leases.keepAlive(callerFor(request), leaseId(request.body));
    return { result: { header: header(renewed.revision), ID: int64(renewed.id), TTL: int64(renewed.ttl) } };
  });
}
