// /livez, /readyz and /healthz in Kubernetes' shape: `ok`, or one line per check with the reason of
// each failure; ?exclude; a check that throws fails instead of turning into a 500.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fastify from 'fastify';
import { type HealthChecks, registerHealthRoutes } from '../../../src/api/health.ts';

function app(checks: HealthChecks) {
  const instance = fastify();
  registerHealthRoutes(instance, checks);
  return instance;
}

const passing = (name: string) => ({ name, check: () => undefined });
const failing = (name: string, why: string) => ({ name, check: () => Promise.resolve(why) });

test('all checks passing: 200 ok, and with ?verbose one line per check', async () => {
  const a = app({ live: [passing('replica')], ready: [passing('leader'), passing('audit')] });
  const plain = await a.inject({ url: '/readyz' });
  assert.equal(plain.statusCode, 200);
  assert.equal(plain.body, 'ok');
  const verbose = await a.inject({ url: '/readyz?verbose' });
  assert.equal(verbose.statusCode, 200);
  assert.equal(verbose.body, '[+]replica ok\n[+]leader ok\n[+]audit ok\nreadyz check passed\n');
});

test('a failing check: 503 with every check listed and the reason of the failure, on /readyz and /healthz', async () => {
  const a = app({ live: [passing('replica')], ready: [passing('leader'), failing('audit', 'records are refused: ENOSPC')] });
  for (const url of ['/readyz', '/healthz']) {
    const answer = await a.inject({ url });
    assert.equal(answer.statusCode, 503);
    const endpoint = url.slice(1);
    assert.equal(answer.body, `[+]replica ok\n[+]leader ok\n[-]audit failed: records are refused: ENOSPC\n${endpoint} check failed\n`);
  }
  // Liveness does not depend on readiness checks.
  assert.equal((await a.inject({ url: '/livez' })).statusCode, 200);
});

test('?exclude leaves a check out', async () => {
  const a = app({ live: [passing('replica')], ready: [failing('leader', 'no leader is known')] });
  assert.equal((await a.inject({ url: '/readyz' })).statusCode, 503);
  const excluded = await a.inject({ url: '/readyz?exclude=leader&verbose' });
  assert.equal(excluded.statusCode, 200);
  assert.equal(excluded.body, '[+]replica ok\nreadyz check passed\n');
});

test('a check that throws fails with its message', async () => {
  const a = app({ live: [{ name: 'replica', check: () => { throw new Error('store closed'); } }], ready: [] });
  const answer = await a.inject({ url: '/livez' });
  assert.equal(answer.statusCode, 503);
  assert.match(answer.body, /^\[-\]replica failed: store closed$/m);
});
