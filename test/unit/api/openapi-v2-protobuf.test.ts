// The protobuf /openapi/v2 document decoded with a reader written here from gnostic's OpenAPIv2.proto
// (field numbers transcribed independently of the encoder) and compared whole with the JSON document:
// every path, operation, parameter, response, definition and vendor extension, read back as kubectl
// reads them (extensions as YAML 1.1, as Go's yaml.v2). A field the reader does not know fails the test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { parse as parseYaml } from 'yaml';
import { swaggerDocument } from '../../../src/api/k8s/openapi.ts';
import { encodeSwaggerProtobuf } from '../../../src/api/k8s/openapi-v2-protobuf.ts';

type Json = Record<string, unknown>;
type Value = number | Uint8Array;
type Read = (bytes: Uint8Array) => unknown;

/** The fields of one message in order: [number, value] (varints as numbers, length-delimited as bytes). */
function fieldsOf(bytes: Uint8Array): [number, Value][] {
  const reader = protobuf.Reader.create(bytes);
  const out: [number, Value][] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const wire = tag & 7;
    if (wire === 0) out.push([tag >>> 3, protobuf.util.LongBits.from(reader.int64()).toNumber()]);
    else if (wire === 1) out.push([tag >>> 3, reader.double()]);
    else if (wire === 2) out.push([tag >>> 3, reader.bytes()]);
    else throw new Error(`wire type ${wire}`);
  }
  return out;
}

const text = (b: Uint8Array): string => new TextDecoder('utf-8', { fatal: true }).decode(b);
const flag = (v: number): boolean => v === 1;

interface Field { key: string; read?: Read; bool?: true; repeated?: true }

/** A message read as a JSON object; `extensions` names the NamedAny field; unknown numbers throw. */
function message(table: Record<number, Field>, extensions?: number): Read {
  return (bytes) => {
    const out: Json = {};
    for (const [n, value] of fieldsOf(bytes)) {
      if (n === extensions) {
        const [name, any] = named(value as Uint8Array);
        const yaml = text(fieldsOf(any).find(([m]) => m === 2)![1] as Uint8Array);
        out[name] = parseYaml(yaml, { version: '1.1' });
        continue;
      }
      const field = table[n];
      if (field === undefined) throw new Error(`field ${n} is not expected here`);
      const decoded = field.bool ? flag(value as number) : field.read!(value as Uint8Array);
      if (field.repeated) out[field.key] = [...(out[field.key] as unknown[] | undefined ?? []), decoded];
      else out[field.key] = decoded;
    }
    return out;
  };
}

/** Named*: {1: name, 2: value}. */
function named(bytes: Uint8Array): [string, Uint8Array] {
  const fields = fieldsOf(bytes);
  return [text(fields.find(([n]) => n === 1)![1] as Uint8Array), fields.find(([n]) => n === 2)![1] as Uint8Array];
}

/** A message whose field `n` is repeated Named* entries, read as a JSON map. */
function map(read: Read, n = 1): Read {
  return (bytes) => Object.fromEntries(fieldsOf(bytes).map(([m, v]) => {
    if (m !== n) throw new Error(`field ${m} is not expected in a map`);
    const [name, value] = named(v as Uint8Array);
    return [name, read(value)];
  }));
}

/** A oneof message: the one field set, read by its number. */
function oneof(choices: Record<number, Read>): Read {
  return (bytes) => {
    const fields = fieldsOf(bytes);
    assert.equal(fields.length, 1, 'a oneof holds one field');
    const [n, value] = fields[0]!;
    return choices[n]!(value as Uint8Array);
  };
}

const schema: Read = (bytes) => {
  const out = message({
    1: { key: '$ref', read: text }, 2: { key: 'format', read: text }, 4: { key: 'description', read: text },
    19: { key: 'required', read: text, repeated: true },
    21: { key: 'additionalProperties', read: (b) => { const [[n, v]] = fieldsOf(b) as [[number, Value]]; return n === 2 ? flag(v as number) : schema(v as Uint8Array); } },
    22: { key: 'type', read: (b) => fieldsOf(b).map(([, v]) => text(v as Uint8Array)) },
    23: { key: 'items', read: (b) => fieldsOf(b).map(([, v]) => schema(v as Uint8Array)) },
    25: { key: 'properties', read: map((b) => schema(b)) },
  }, 31)(bytes) as Json;
  // TypeItem and ItemsItem are lists; the JSON document writes one type and one items schema.
  if (Array.isArray(out.type) && out.type.length === 1) out.type = out.type[0];
  if (Array.isArray(out.items) && out.items.length === 1) out.items = out.items[0];
  return out;
};

const queryParameter = message({ 1: { key: 'required', bool: true }, 2: { key: 'in', read: text }, 3: { key: 'description', read: text }, 4: { key: 'name', read: text }, 6: { key: 'type', read: text }, 20: { key: 'uniqueItems', bool: true } }, 23);
const parametersItem = oneof({ 1: oneof({ 2: oneof({ 3: queryParameter }) }) });
const response = message({ 1: { key: 'description', read: text }, 2: { key: 'schema', read: oneof({ 1: schema }) } }, 5);
const responses = map(oneof({ 1: response }));
const operation = message({ 5: { key: 'operationId', read: text }, 8: { key: 'parameters', read: parametersItem, repeated: true }, 9: { key: 'responses', read: responses } }, 13);
const pathItem = message({ 2: { key: 'get', read: operation }, 3: { key: 'put', read: operation }, 4: { key: 'post', read: operation }, 5: { key: 'delete', read: operation }, 8: { key: 'patch', read: operation } }, 10);
const document = message({
  1: { key: 'swagger', read: text },
  2: { key: 'info', read: message({ 1: { key: 'title', read: text }, 2: { key: 'version', read: text } }, 7) },
  8: { key: 'paths', read: map(pathItem, 2) },
  9: { key: 'definitions', read: map(schema) },
}, 16);

/** The JSON document as protobuf can hold it: proto3 cannot tell an empty repeated field from an absent one. */
function withoutEmptyLists(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutEmptyLists);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => !(Array.isArray(v) && v.length === 0)).map(([k, v]) => [k, withoutEmptyLists(v)]));
}

test('the protobuf OpenAPI v2 document decodes to the JSON one, field by field', () => {
  const json = swaggerDocument();
  const decoded = document(encodeSwaggerProtobuf(json)) as Json;
  assert.deepEqual(decoded, withoutEmptyLists(json));
  const definitions = decoded.definitions as Record<string, Json>;
  assert.deepEqual(definitions['io.k8s.api.core.v1.ConfigMap']!['x-kubernetes-group-version-kind'], [{ group: '', version: 'v1', kind: 'ConfigMap' }]);
});

test('a key the protobuf document has no field for is refused rather than left out', () => {
  const json = swaggerDocument();
  const definitions = json.definitions as Record<string, Json>;
  definitions['io.k8s.api.core.v1.ConfigMap'] = { ...definitions['io.k8s.api.core.v1.ConfigMap'], patternProperties: {} };
  assert.throws(() => encodeSwaggerProtobuf(json), /\$\.definitions\.io\.k8s\.api\.core\.v1\.ConfigMap\.patternProperties has no field/);
  assert.throws(() => encodeSwaggerProtobuf({ ...swaggerDocument(), securityDefinitions: {} }), /\$\.securityDefinitions has no field/);
});

test('extension values that YAML 1.1 would misread stay strings; numbers, booleans and nulls keep their type', () => {
  const extensions = { 'x-on': 'on', 'x-no': 'no', 'x-number': '5', 'x-quote': 'a "b": c\n#d', 'x-int': 5, 'x-bool': false, 'x-null': null };
  const decoded = document(encodeSwaggerProtobuf({ swagger: '2.0', ...extensions })) as Json;
  assert.deepEqual(decoded, { swagger: '2.0', ...extensions });
});
