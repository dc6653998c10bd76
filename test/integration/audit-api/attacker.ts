/**
 * What the attack tests share (attacks, the authorization matrix, the fuzzer): identities with partial
 * rights, a marker value to look for in every form, requests that read whole answers (a watch until a
 * bookmark shows it has delivered everything), and a fingerprint of what a request could change.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ManualClock } from '../../../src/base/index.ts';
import { httpEquivalent } from '../../../src/api/grpc/status.ts';
import { watchBookmarkIntervalMs } from '../../../src/config/index.ts';
import { admin, type AuditedMember } from './harness.ts';

export const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Request headers naming `user` in `groups` (the harness's identity seam). */
export const who = (user: string, groups: string[] = []): Record<string, string> => ({ 'x-user': user, 'x-groups': groups.join(',') });

/** The forms a value may leak in: raw, base64, hex. */
export function formsOf(value: string): string[] {
  return [value, b64(value), Buffer.from(value).toString('hex')];
}

/** Fails if `text` carries `value` in any form. */
export function assertNoValue(text: string, value: string, what: string): void {
  for (const form of formsOf(value)) assert.ok(!text.includes(form), `${what} carries the value (${form}): ${text.slice(0, 400)}`);
}

/** Makes a ClusterRole with `rules` and binds it to `user`, as the administrator. */
export async function grant(app: FastifyInstance, name: string, rules: unknown[], user: string): Promise<void> {
  const created = await app.inject({ method: 'POST', url: '/apis/rbac.authorization.k8s.io/v1/clusterroles', headers: admin, payload: { metadata: { name }, rules } });
  assert.equal(created.statusCode, 201, created.body);
  const bound = await app.inject({
    method: 'POST', url: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', headers: admin,
    payload: { metadata: { name }, subjects: [{ kind: 'User', name: user, apiGroup: 'rbac.authorization.k8s.io' }], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name } },
  });
  assert.equal(bound.statusCode, 201, bound.body);
}

/**
 * Every key outside Coffer's own zero-byte records, with its mod revision: what a request could have
 * changed. (The audit log writes its checkpoints under reserved keys while tests run.)
 */
export async function userState(member: AuditedMember): Promise<string> {
  const { kvs } = await member.backend.range(Uint8Array.of(1), Uint8Array.of(0), { linearizable: false });
  return kvs.map((kv) => `${Buffer.from(kv.key).toString('latin1')}@${kv.modRevision}`).join('\n');
}

export interface Answer {
  status: number;
  text: string;
  auditID: string | undefined;
}

/**
 * Sends one request and reads its whole answer. A Kubernetes watch stream (`streaming` and status 200)
 * is read until a bookmark or its end shows it delivered everything up to now: the bookmarks are asked
 * for by advancing `clock`, the clock the app's watch timers run on. A KV watch is read to its first
 * line (created or canceled).
 */
export async function exchange(
  app: FastifyInstance, clock: ManualClock, request: { method: string; url: string; headers: Record<string, string>; payload?: string | Buffer; streaming?: boolean },
): Promise<Answer> {
  const response = await app.inject({ method: request.method as 'GET', url: request.url, headers: request.headers, payloadAsStream: true, ...(request.payload !== undefined ? { payload: request.payload } : {}) });
  const stream: Readable = response.stream();
  let text = '';
  let ended = false;
  stream.on('data', (chunk: Buffer) => { text += chunk.toString(); });
  const end = once(stream, 'end').then(() => { ended = true; });
  const grpc = response.headers['content-type'] === 'application/grpc';
  // A gRPC Watch answers its create request with a first message (created, or canceled with the reason).
  const answered = () => (grpc ? text.length > 0 : /"type":"(BOOKMARK|ERROR)"|"canceled":true|"created":true/.test(text));
  if (response.statusCode === 200 && request.streaming === true) {
    while (!ended && !answered()) {
      const next = Promise.race([once(stream, 'data'), end]);
      clock.advance(watchBookmarkIntervalMs);
      await next;
    }
    stream.destroy();
  } else {
    await end;
  }
  // A gRPC call's outcome is its grpc-status trailer (the HTTP status is 200 either way).
  const grpcStatus = grpc && ended ? Number(response.trailers['grpc-status'] ?? 2) : 0;
  const status = grpcStatus !== 0 ? httpEquivalent(grpcStatus) : response.statusCode;
  return { status, text, auditID: response.headers['audit-id'] as string | undefined };
}

/** A refused request's answer as the tests read it: its status, its body, the audit ID it names. */
export interface RefusedAnswer { status: number; body: Record<string, unknown>; auditID: string | undefined }

/** The answer is the Status named, the member's user state is as it was, and the request has its one audit event. */
export async function assertRefused(member: AuditedMember, answer: RefusedAnswer, code: number, reason: string, message: RegExp, stateBefore: string): Promise<void> {
  assert.equal(answer.status, code, JSON.stringify(answer.body).slice(0, 400));
  assert.equal(answer.body.kind, 'Status');
  assert.equal(answer.body.reason, reason);
  assert.match(String(answer.body.message), message);
  assert.equal(await userState(member), stateBefore, 'a refused request changes nothing');
  const events = (await member.events()).filter((e) => e.auditID === answer.auditID);
  assert.equal(events.length, 1, 'the refused request is audited');
  assert.equal(events[0]!.responseStatus?.code, code);
}
