/**
 * Request bodies in Kubernetes' protobuf encoding, which kubectl's typed commands (`kubectl create
 * secret|configmap|namespace|role|…`, `kubectl auth can-i|whoami`) send first and do not retry as JSON. Only decoding, only the
 * kinds Coffer serves, only the fields the registry reads: the result is the JSON object the same
 * request would have carried, and goes through exactly the same validation.
 *
 * Wire format: the magic `k8s\0`, then a runtime.Unknown {1: typeMeta {1: apiVersion, 2: kind},
 * 2: raw (the object's message)}. Field numbers are those of Kubernetes' generated.proto files.
 * Anything malformed is RegistryError BadRequest; unknown fields are skipped as protobuf requires.
 */
import { all, bad, type Field, fields, type Json, one, str } from './protobuf-wire.ts';
import { decodeReviewProtobuf } from './review-protobuf.ts';

const magic = [0x6b, 0x38, 0x73, 0x00];

export const protobufContentType = 'application/vnd.kubernetes.protobuf';

export function decodeProtobufObject(body: Uint8Array): Json {
  if (body.length < 4 || !magic.every((b, i) => body[i] === b)) throw bad('the protobuf body does not start with the Kubernetes magic');
  const unknown = fields(body.subarray(4));
  const typeMeta = fields(one(unknown, 1) ?? new Uint8Array(0));
  const apiVersion = str(one(typeMeta, 1));
  const kind = str(one(typeMeta, 2));
  const raw = one(unknown, 2) ?? new Uint8Array(0);
  const encoding = one(unknown, 3);
  if (encoding !== undefined && encoding.length > 0) throw bad('content-encoded protobuf bodies are not supported');
  const message = fields(raw);
  const object: Json = { apiVersion, kind };
  const meta = one(message, 1);
  if (meta !== undefined) object.metadata = objectMeta(fields(meta));
  switch (kind) {
    case 'Secret':
      setMap(object, 'data', message, 2, 'bytes');
      setString(object, 'type', message, 3);
      setMap(object, 'stringData', message, 4, 'string');
      setBool(object, 'immutable', message, 5);
      break;
    case 'ConfigMap':
      setMap(object, 'data', message, 2, 'string');
      setMap(object, 'binaryData', message, 3, 'bytes');
      setBool(object, 'immutable', message, 4);
      break;
    case 'Namespace':
      break;
    case 'Role': case 'ClusterRole':
      object.rules = all(message, 2).map((r) => {
        const rule = fields(r);
        const out: Json = { verbs: all(rule, 1).map(str) };
        const lists: [string, number][] = [['apiGroups', 2], ['resources', 3], ['resourceNames', 4], ['nonResourceURLs', 5]];
        for (const [name, n] of lists) if (all(rule, n).length > 0) out[name] = all(rule, n).map(str);
        return out;
      });
      if (kind === 'ClusterRole' && one(message, 3) !== undefined) object.aggregationRule = {};
      break;
    case 'RoleBinding': case 'ClusterRoleBinding': {
      object.subjects = all(message, 2).map((s) => {
        const subject = fields(s);
        const out: Json = { kind: str(one(subject, 1)), apiGroup: str(one(subject, 2)), name: str(one(subject, 3)) };
        if (one(subject, 4) !== undefined) out.namespace = str(one(subject, 4));
        return out;
      });
      const ref = one(message, 3);
      if (ref !== undefined) {
        const r = fields(ref);
        object.roleRef = { apiGroup: str(one(r, 1)), kind: str(one(r, 2)), name: str(one(r, 3)) };
      }
      break;
    }
    default:
      if (decodeReviewProtobuf(kind, message, object)) break;
      throw bad(`protobuf bodies of kind ${JSON.stringify(kind.slice(0, 64))} are not supported; send JSON`);
  }
  return object;
}

function objectMeta(meta: Field[]): Json {
  const out: Json = {};
  const strings: [string, number][] = [['name', 1], ['generateName', 2], ['namespace', 3], ['uid', 5], ['resourceVersion', 6]];
  for (const [name, n] of strings) setString(out, name, meta, n);
  setMap(out, 'labels', meta, 11, 'string');
  setMap(out, 'annotations', meta, 12, 'string');
  return out;
}

function setString(target: Json, name: string, message: Field[], n: number): void {
  const value = one(message, n);
  if (value !== undefined) target[name] = str(value);
}

function setBool(target: Json, name: string, message: Field[], n: number): void {
  const field = message.filter((f) => f.number === n && f.wire === 0).at(-1);
  if (field?.varint !== undefined) target[name] = field.varint !== 0n;
}

function setMap(target: Json, name: string, message: Field[], n: number, valueKind: 'string' | 'bytes'): void {
  const entries = all(message, n);
  if (entries.length === 0) return;
  target[name] = Object.fromEntries(entries.map((entry) => {
    const parts = fields(entry);
    const value = one(parts, 2) ?? new Uint8Array(0);
    return [str(one(parts, 1)), valueKind === 'bytes' ? Buffer.from(value).toString('base64') : str(value)];
  }));
}
