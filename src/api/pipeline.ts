/**
 * The steps every request passes whichever API it is for, as one plugin registered once on the root
 * with fastify-plugin semantics (it skips encapsulation): its hooks apply to every API plugin registered
 * after it, their not-found handlers included.
 *   1. the gate (gate.ts): identity → a URL read one way only → impersonation → member confinement →
 *      RBAC, default deny, before any handler or not-found runs;
 *   2. what a user's requests hold (unread-answers.ts, held-bytes.ts, body-intake.ts): their bodies and
 *      reads in flight and answers not yet taken by its clients; a user holding too much is refused 429,
 *      an answer not taken in time is dropped, a body its client did not finish is refused — before the
 *      audit step, which records such a refusal;
 *   3. the audit step (audit-plugin.ts), when the member passes its audit log;
 *   4. /metrics counts: by verb, resource (as the route declares it: route-config.ts) and code.
 * What differs between the APIs (the dialect of a refusal, whether a call only reads, a metric label)
 * the steps read from the route's config, never from its path.
 */
import type { FastifyInstance } from 'fastify';
import { type ApiAudit, registerAuditPlugin } from './audit-plugin.ts';
import { registerBodyIntake } from './body-intake.ts';
import { registerGate } from './gate.ts';
import { recordedStatusCode } from './grpc/status.ts';
import type { Identify } from './identity.ts';
import type { PolicyHolder } from './k8s/policy-holder.ts';
import { metricLabels } from './metric-labels.ts';
import { parseOf } from './request.ts';
import { routeConfigOf } from './route-config.ts';
import { registerUnreadAnswers } from './unread-answers.ts';

/** What the API needs from the member's metrics (src/metrics implements it). */
export interface ApiMetrics {
  request(verb: string, resource: string, code: number, seconds: number): void;
  contentType(): string;
  render(): Promise<string>;
}

export interface PipelineOptions {
  identify: Identify;
  policy: PolicyHolder;
  audit: ApiAudit | undefined;
  metrics: ApiMetrics | undefined;
  /** How long a client may take to take an answer sent whole (unread-answers.ts). */
  answerTimeoutMs: number;
}

function pipeline(app: FastifyInstance, options: PipelineOptions, done: (error?: Error) => void): void {
  registerGate(app, { identify: options.identify, policy: options.policy });
  registerUnreadAnswers(app, { answerTimeoutMs: options.answerTimeoutMs });
  registerBodyIntake(app);
  const { metrics, audit } = options;
  if (metrics) {
    app.addHook('onResponse', async (request, reply) => {
      const { verb, resource } = metricLabels(parseOf(request.raw), routeConfigOf(request));
      metrics.request(verb, resource, recordedStatusCode(request, reply), reply.elapsedTime / 1000);
      return Promise.resolve();
    });
  }
  if (audit) registerAuditPlugin(app, audit);
  done();
}

/** The shared steps as a plugin whose hooks land on the instance it is registered on (what fastify-plugin marks). */
export const requestPipeline = Object.assign(pipeline, { [Symbol.for('skip-override')]: true });
