/**
 * The Kubernetes API, a fastify plugin at the root of the client port: discovery, OpenAPI, the
 * resources (routes.ts), the access reviews, Coffer's audit routes, and the API server's non-resource
 * paths (probes, /metrics). Its errors, and every path no API serves, are answered as Kubernetes
 * `Status` objects (dialect.ts); it reads JSON, YAML for apply and protobuf (body-parsers.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../base/index.ts';
import type { Registry } from '../../registry/index.ts';
import type { ApiAudit } from '../audit-plugin.ts';
import { kubernetesBodies } from '../body-parsers.ts';
import { kubernetesStatus, speak } from '../dialect.ts';
import { type HealthChecks, registerHealthRoutes } from '../health.ts';
import type { KvBackend } from '../kv/backend.ts';
import type { WatchStreams } from '../watch-stream.ts';
import { registerAuditRoutes } from './audit-routes.ts';
import { registerDiscoveryRoutes } from './discovery.ts';
import { registerOpenApiRoutes } from './openapi.ts';
import type { PolicyHolder } from './policy-holder.ts';
import { registerReviewRoutes } from './reviews.ts';
import { registerK8sRoutes } from './routes.ts';

export interface KubernetesApiOptions {
  backend: KvBackend;
  registry: Registry;
  policy: PolicyHolder;
  clock: Clock;
  watches: WatchStreams;
  health: HealthChecks;
  /** Serves the audit routes when given. */
  audit?: ApiAudit;
  /** Serves /metrics when given. */
  metrics?: { contentType(): string; render(): Promise<string> };
}

export function kubernetesApi(k8s: FastifyInstance, options: KubernetesApiOptions, done: (error?: Error) => void): void {
  speak(k8s, { dialect: kubernetesStatus });
  kubernetesBodies(k8s);
  const { backend, registry, policy, clock, watches, audit, metrics } = options;
  if (metrics) k8s.get('/metrics', async (_request, reply) => reply.type(metrics.contentType()).send(await metrics.render()));
  if (audit) registerAuditRoutes(k8s, { audit, backend });
  registerHealthRoutes(k8s, options.health);
  registerDiscoveryRoutes(k8s);
  registerOpenApiRoutes(k8s);
  registerK8sRoutes(k8s, { kv: backend, registry, policy, clock, watches });
  registerReviewRoutes(k8s, { policy });
  done();
}
