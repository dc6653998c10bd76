/**
 * The protobuf bodies of the reviews a caller asks about itself, as kubectl 1.32 sends them for
 * `kubectl auth can-i` (SelfSubjectAccessReview), `auth can-i --list` (SelfSubjectRulesReview) and
 * `auth whoami` (SelfSubjectReview): only their specs, decoded into the JSON the same request would
 * carry. Field numbers are those of k8s.io/api authorization/v1 and authentication/v1 generated.proto.
 */
import { type Field, fields, type Json, one, str } from './protobuf-wire.ts';

const resourceAttributeFields: [string, number][] = [
  ['namespace', 1], ['verb', 2], ['group', 3], ['version', 4], ['resource', 5], ['subresource', 6], ['name', 7],
];
const nonResourceAttributeFields: [string, number][] = [['path', 1], ['verb', 2]];

/** Fills `object` from the review's message; false when `kind` is not one of these reviews. */
export function decodeReviewProtobuf(kind: string, message: Field[], object: Json): boolean {
  switch (kind) {
    case 'SelfSubjectAccessReview': {
      const spec = fields(one(message, 2) ?? new Uint8Array(0));
      const resource = one(spec, 1);
      const nonResource = one(spec, 2);
      object.spec = {
        ...(resource !== undefined ? { resourceAttributes: strings(fields(resource), resourceAttributeFields) } : {}),
        ...(nonResource !== undefined ? { nonResourceAttributes: strings(fields(nonResource), nonResourceAttributeFields) } : {}),
      };
      return true;
    }
    case 'SelfSubjectRulesReview':
      object.spec = strings(fields(one(message, 2) ?? new Uint8Array(0)), [['namespace', 1]]);
      return true;
    case 'SelfSubjectReview':
      return true;
    default:
      return false;
  }
}

function strings(message: Field[], names: [string, number][]): Json {
  const out: Json = {};
  for (const [name, n] of names) {
    const value = one(message, n);
    if (value !== undefined) out[name] = str(value);
  }
  return out;
}
