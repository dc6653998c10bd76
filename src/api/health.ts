/**
 * Health endpoints with Kubernetes' meanings and shapes:
 *
 *   /livez    the process can go on: 503 only when it cannot (the replica fail-stopped on a WAL or
 *             store failure, the member was removed). A load balancer restarts what fails here.
 *   /readyz   the live checks, and the member can serve a request now: it knows a leader, it has
 *             applied what the leader had committed, the first-start objects exist, the audit log
 *             takes records. A load balancer sends traffic only where this answers 200.
 *   /healthz  the older name for /readyz.
 *
 * Each answers 200 `ok`, or, when `?verbose` is given or a check fails, one line per check
 * (`[+]leader ok`, `[-]audit failed: <why>`) and a last line `readyz check passed|failed`; a failed
 * check always says why (any verified identity may ask, and no reason carries a secret).
 * `?exclude=<check>` skips one (one per request: every path refuses a repeated query parameter, which
 * could be read two ways). There are no per-check paths (`/readyz/<check>`): the
 * default audit policy leaves out the three exact paths only, and a probe must answer while the audit
 * log refuses records.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../base/index.ts';
import { readyzReadTimeoutMs } from '../config/index.ts';
import type { KvBackend } from './kv/backend.ts';

/** One named check: resolves undefined when it passes, or a sentence saying why it fails. */
export interface HealthCheck {
  name: string;
  check(): string | undefined | Promise<string | undefined>;
}

export interface HealthChecks {
  /** The process can go on. */
  live: HealthCheck[];
  /** The member can serve now (the live checks run too). */
  ready: HealthCheck[];
}

/**
 * What any member's replica tells: live while it runs; ready while it knows a leader and a
 * linearizable barrier (a ReadIndex round, then applying up to it) completes in readyzReadTimeoutMs, so
 * a read here is current and a member still catching up after a start or a partition is not ready.
 */
export function replicaHealthChecks(backend: KvBackend, clock: Clock, whyStopped: () => string | undefined = () => undefined): HealthChecks {
  return {
    live: [{ name: 'replica', check: () => (backend.isServing() ? undefined : whyStopped() ?? 'the replica has stopped') }],
    ready: [
      {
        name: 'leader',
        check: () => {
          const status = backend.status();
          if (status.removed) return 'this member was removed from the cluster';
          return status.leader === 0 ? 'no leader is known: an election is under way or a majority of the members cannot be reached (quorum lost)' : undefined;
        },
      },
      { name: 'linearizable-read', check: () => barrierWithin(backend, clock, readyzReadTimeoutMs) },
    ],
  };
}

async function barrierWithin(backend: KvBackend, clock: Clock, timeoutMs: number): Promise<string | undefined> {
  let timer: { cancel(): void } | undefined;
  const late = new Promise<string>((resolve) => {
    timer = clock.setTimer(timeoutMs, () => resolve(`has not applied what the leader committed within ${timeoutMs} ms (still catching up, or no quorum)`));
  });
  const done = backend.linearizableBarrier().then(() => undefined, (error: Error) => `a linearizable read failed: ${error.message}`);
  try {
    return await Promise.race([done, late]);
  } finally {
    timer?.cancel();
  }
}

export function registerHealthRoutes(app: FastifyInstance, checks: HealthChecks): void {
  const endpoints = { livez: checks.live, readyz: [...checks.live, ...checks.ready], healthz: [...checks.live, ...checks.ready] };
  for (const [name, list] of Object.entries(endpoints)) app.get(`/${name}`, (request, reply) => answerAll(request, reply, name, list));
}

async function answerAll(request: FastifyRequest, reply: FastifyReply, endpoint: string, list: HealthCheck[]): Promise<FastifyReply> {
  const query = new URLSearchParams(request.url.split('?')[1] ?? '');
  const excluded = new Set(query.getAll('exclude'));
  const results = await Promise.all(list.filter((c) => !excluded.has(c.name)).map(async (c) => ({ name: c.name, failure: await run(c) })));
  const ok = results.every((r) => r.failure === undefined);
  const answer = reply.code(ok ? 200 : 503).type('text/plain').header('cache-control', 'no-store');
  if (ok && !query.has('verbose')) return answer.send('ok');
  const lines = results.map((r) => (r.failure === undefined ? `[+]${r.name} ok` : `[-]${r.name} failed: ${r.failure}`));
  return answer.send(`${lines.join('\n')}\n${endpoint} check ${ok ? 'passed' : 'failed'}\n`);
}

/** A check that throws fails with its message (a check must not turn a probe into a 500). */
async function run(check: HealthCheck): Promise<string | undefined> {
  try {
    return await check.check();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
