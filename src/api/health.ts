/**
 * Health endpoints with Kubernetes' meanings: /livez — the process serves and its replica has not
 * stopped; /readyz — it also knows a leader and has applied everything it knows to be committed, so a
 * read here is current; /healthz — the older name for readiness. Any verified identity may ask.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { KvBackend } from './kv/backend.ts';

export function registerHealthRoutes(app: FastifyInstance, backend: KvBackend): void {
  const live = () => backend.isServing();
  const ready = () => {
    if (!live()) return false;
    const status = backend.status();
    return status.leader !== 0 && !status.removed && status.appliedIndex >= status.commitIndex;
  };
  const answer = (reply: FastifyReply, ok: boolean) => reply.code(ok ? 200 : 503).type('text/plain').send(ok ? 'ok' : 'not ready');
  app.get('/livez', (_request, reply) => answer(reply, live()));
  app.get('/readyz', (_request, reply) => answer(reply, ready()));
  app.get('/healthz', (_request, reply) => answer(reply, ready()));
}
