/**
 * The reviews a caller asks about itself, as the Kubernetes API server serves them:
 *
 *   POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews  → may I do this?   (kubectl auth can-i)
 *   POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews   → what may I do here? (auth can-i --list)
 *   POST /apis/authentication.k8s.io/v1/selfsubjectreviews       → who am I?        (kubectl auth whoami)
 *
 * Each answers for the identity the request runs as (impersonation included) from the same compiled
 * policy and decision the gate uses (authorization.ts, rbac.rulesOf); the default policies grant them
 * to every authenticated caller (ClusterRole system:basic-user). A review never names another user:
 * SubjectAccessReview is not served, and a self review whose spec names a user or groups is refused.
 * Bodies are JSON or the protobuf kubectl sends (review-protobuf.ts); a malformed one is a 400 Status.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { reviewAttributeLengthMax } from '../../config/index.ts';
import { authenticationApiGroup, authorizationApiGroup, rulesOf } from '../../rbac/index.ts';
import { RegistryError } from '../../registry/index.ts';
import type { RequestInfo } from '../request-info.ts';
import { callerFor, decide } from './authorization.ts';
import type { PolicyHolder } from './policy-holder.ts';

type Json = Record<string, unknown>;

const authorizationVersion = `${authorizationApiGroup}/v1`;
const authenticationVersion = `${authenticationApiGroup}/v1`;
const resourceAttributeNames = ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'] as const;
/** Selectors narrow a request for authorizers that read them; RBAC does not, so they are accepted and unused. */
const selectorNames = ['fieldSelector', 'labelSelector'];
const nonResourceAttributeNames = ['path', 'verb'] as const;

export function registerReviewRoutes(app: FastifyInstance, options: { policy: PolicyHolder }): void {
  const { policy } = options;

  app.post(`/apis/${authorizationVersion}/selfsubjectaccessreviews`, async (request, reply) => {
    const spec = specOf(request, 'SelfSubjectAccessReview', authorizationVersion);
    only(spec, ['resourceAttributes', 'nonResourceAttributes'], 'spec');
    const info = requestInfoOf(spec);
    const decision = decide(policy.policy, callerFor(request), info);
    // As Kubernetes' RBAC authorizer: a reason when allowed (the binding and role), none when denied.
    return created(reply, review('SelfSubjectAccessReview', authorizationVersion, spec, {
      allowed: decision.allowed, ...(decision.allowed ? { reason: decision.reason } : {}),
    }));
  });

  app.post(`/apis/${authorizationVersion}/selfsubjectrulesreviews`, async (request, reply) => {
    const spec = specOf(request, 'SelfSubjectRulesReview', authorizationVersion);
    only(spec, ['namespace'], 'spec');
    const namespace = attribute(spec, 'namespace', 'spec.namespace');
    // Bounded (rbacRulesReview*Max): a cut list is `incomplete`, with the limit as its evaluationError, as Kubernetes words errors.
    const { evaluationError, ...rules } = rulesOf(policy.policy, callerFor(request), namespace);
    return created(reply, review('SelfSubjectRulesReview', authorizationVersion, { namespace }, {
      ...rules, incomplete: evaluationError !== undefined, ...(evaluationError !== undefined ? { evaluationError } : {}),
    }));
  });

  app.post(`/apis/${authenticationVersion}/selfsubjectreviews`, async (request, reply) => {
    const body = bodyOf(request, 'SelfSubjectReview', authenticationVersion);
    only(body, ['kind', 'apiVersion', 'metadata', 'status'], 'the body');
    const caller = callerFor(request);
    return created(reply, { kind: 'SelfSubjectReview', apiVersion: authenticationVersion, metadata: { creationTimestamp: null }, status: { userInfo: { username: caller.user, groups: [...caller.groups] } } });
  });
}

function created(reply: FastifyReply, body: Json): FastifyReply {
  return reply.code(201).type('application/json').send(body);
}

function review(kind: string, apiVersion: string, spec: Json, status: Json): Json {
  return { kind, apiVersion, metadata: { creationTimestamp: null }, spec, status };
}

/** What the review asks about, in the gate's terms: exactly one of resourceAttributes and nonResourceAttributes. */
function requestInfoOf(spec: Json): RequestInfo {
  const resource = spec.resourceAttributes;
  const nonResource = spec.nonResourceAttributes;
  if ((resource === undefined) === (nonResource === undefined)) {
    throw invalid('spec: exactly one of resourceAttributes and nonResourceAttributes must be given');
  }
  if (nonResource !== undefined) {
    const attributes = object(nonResource, 'spec.nonResourceAttributes');
    only(attributes, nonResourceAttributeNames, 'spec.nonResourceAttributes');
    const path = attribute(attributes, 'path', 'spec.nonResourceAttributes.path');
    if (!path.startsWith('/')) throw invalid(`spec.nonResourceAttributes.path: ${JSON.stringify(path)} is not a path starting with /`);
    return { isResource: false, verb: required(attributes, 'verb', 'spec.nonResourceAttributes.verb'), path };
  }
  const attributes = object(resource, 'spec.resourceAttributes');
  only(attributes, [...resourceAttributeNames, ...selectorNames], 'spec.resourceAttributes');
  const value = (name: typeof resourceAttributeNames[number]) => attribute(attributes, name, `spec.resourceAttributes.${name}`);
  return {
    isResource: true, verb: required(attributes, 'verb', 'spec.resourceAttributes.verb'), apiGroup: value('group'), apiVersion: value('version'),
    resource: required(attributes, 'resource', 'spec.resourceAttributes.resource'), subresource: value('subresource'),
    namespace: value('namespace'), name: value('name'),
  };
}

function bodyOf(request: FastifyRequest, kind: string, apiVersion: string): Json {
  const body = object(request.body, 'the body');
  if (body.kind !== undefined && body.kind !== kind) throw invalid(`kind: ${shown(body.kind)} is not ${kind}`);
  if (body.apiVersion !== undefined && body.apiVersion !== apiVersion) throw invalid(`apiVersion: ${shown(body.apiVersion)} is not ${apiVersion}`);
  return body;
}

/** A bad value as an error names it: a string quoted and cut short, anything else by its type. */
function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : `a value of type ${typeof value}`;
}

function specOf(request: FastifyRequest, kind: string, apiVersion: string): Json {
  const body = bodyOf(request, kind, apiVersion);
  only(body, ['kind', 'apiVersion', 'metadata', 'spec', 'status'], 'the body');
  const spec = object(body.spec, 'spec');
  // A self review asks about its caller; naming someone else is what SubjectAccessReview does, which is not served.
  for (const field of ['user', 'groups', 'uid', 'extra']) {
    if (spec[field] !== undefined) throw invalid(`spec.${field}: a ${kind} asks about its caller only; it cannot name a user or groups`);
  }
  return spec;
}

function only(value: Json, names: readonly string[], where: string): void {
  const unknown = Object.keys(value).find((key) => !names.includes(key));
  if (unknown !== undefined) throw invalid(`${where}: unknown field ${JSON.stringify(unknown.slice(0, 64))}`);
}

function object(value: unknown, where: string): Json {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(`${where} must be an object`);
  return value as Json;
}

function attribute(value: Json, name: string, where: string): string {
  const text = value[name] ?? '';
  if (typeof text !== 'string') throw invalid(`${where} must be a string`);
  if (text.length > reviewAttributeLengthMax) throw invalid(`${where} is longer than reviewAttributeLengthMax (${reviewAttributeLengthMax} characters)`);
  return text;
}

function required(value: Json, name: string, where: string): string {
  const text = attribute(value, name, where);
  if (text === '') throw invalid(`${where}: required`);
  return text;
}

function invalid(message: string): RegistryError {
  return new RegistryError('BadRequest', message);
}
