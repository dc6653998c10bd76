/**
 * The Swagger 2.0 document (openapi.ts, swaggerDocument) in protobuf, as kubectl asks for /openapi/v2:
 * gnostic's `openapi.v2.Document` message (github.com/google/gnostic-models, openapiv2/OpenAPIv2.proto;
 * the field numbers below are that file's). kubectl decodes it with kube-openapi's proto package to
 * validate on the client what the server cannot be asked to validate (the items of a `kind: List`) and
 * for `kubectl explain --output=plaintext-openapiv2`; it finds a kind's definition by the definition's
 * `x-kubernetes-group-version-kind`.
 *
 * Every key of the JSON document is encoded; a key this encoder has no field for throws (when the
 * routes are registered), so nothing of the JSON document is left out of the protobuf one unnoticed.
 * Maps are repeated `Named*` messages in the JSON order. Vendor extensions (`x-…`) and the free values
 * (`default`, `example`, `enum`) are `Any` messages whose `yaml` string is the value written as JSON,
 * which YAML reads as the same value (every string quoted, so YAML 1.1 reads no `on` or `no` as a bool).
 */
import protobuf from 'protobufjs';

type Writer = protobuf.Writer;
/** Writes one field (or each element of a repeated one) numbered n. */
type Put = (w: Writer, n: number, value: unknown, at: string) => void;
/** Writes the fields of one message. */
type Message = (w: Writer, value: unknown, at: string) => void;
type Table = Record<string, readonly [number, Put]>;

const varint = 0;
const fixed64 = 1;
const bytes = 2;

export function encodeSwaggerProtobuf(document: Record<string, unknown>): Uint8Array {
  const w = protobuf.Writer.create();
  fieldsOf(documentFields, 16)(w, document, '$');
  return w.finish();
}

function fail(at: string, what: string): never {
  throw new Error(`OpenAPI v2 protobuf: ${at} ${what}`);
}

function record(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(at, 'is not an object');
  return value as Record<string, unknown>;
}

function array(value: unknown, at: string): unknown[] {
  if (!Array.isArray(value)) fail(at, 'is not an array');
  return value;
}

const string: Put = (w, n, value, at) => {
  if (typeof value !== 'string') fail(at, 'is not a string');
  w.uint32((n << 3) | bytes).string(value);
};

const bool: Put = (w, n, value, at) => {
  if (typeof value !== 'boolean') fail(at, 'is not a boolean');
  w.uint32((n << 3) | varint).bool(value);
};

const int64: Put = (w, n, value, at) => {
  if (!Number.isSafeInteger(value)) fail(at, 'is not an integer');
  w.uint32((n << 3) | varint).int64(value as number);
};

const double: Put = (w, n, value, at) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(at, 'is not a finite number');
  w.uint32((n << 3) | fixed64).double(value);
};

const strings: Put = (w, n, value, at) => array(value, at).forEach((s, i) => string(w, n, s, `${at}[${i}]`));

/** A field holding one message. */
const one = (message: Message): Put => (w, n, value, at) => {
  w.uint32((n << 3) | bytes).fork();
  message(w, value, at);
  w.ldelim();
};

const many = (message: Message): Put => (w, n, value, at) => array(value, at).forEach((v, i) => one(message)(w, n, v, `${at}[${i}]`));

/** A JSON map as repeated Named* messages {1: name, 2: value}. */
const named = (message: Message): Put => (w, n, value, at) => {
  for (const [name, v] of Object.entries(record(value, at))) {
    one((wn) => {
      string(wn, 1, name, `${at}.${name}`);
      one(message)(wn, 2, v, `${at}.${name}`);
    })(w, n, value, at);
  }
};

/** A message whose only field (1) is a JSON map: Definitions, Properties, Examples, … */
const map = (message: Message): Put => one((w, value, at) => named(message)(w, 1, value, at));

/** Any {2: yaml}. */
const any: Message = (w, value, at) => {
  if (value === undefined) fail(at, 'has no value');
  string(w, 2, JSON.stringify(value), at);
};

/** A message from a table of its fields; `x-` keys become NamedAny vendor extensions numbered `extensions`. */
function fieldsOf(table: Table, extensions?: number): Message {
  return (w, value, at) => {
    for (const [key, v] of Object.entries(record(value, at))) {
      const field = Object.hasOwn(table, key) ? table[key] : undefined;
      if (field !== undefined) field[1](w, field[0], v, `${at}.${key}`);
      else if (extensions !== undefined && key.startsWith('x-')) named(any)(w, extensions, { [key]: v }, at);
      else fail(`${at}.${key}`, 'has no field in openapi.v2 here');
    }
  };
}

const externalDocs = one(fieldsOf({ description: [1, string], url: [2, string] }, 3));

/** SecurityRequirement: {1: repeated NamedStringArray}, a StringArray being {1: repeated string}. */
const security = many((w, value, at) => named((ws, v, a) => strings(ws, 1, v, a))(w, 1, value, at));

const documentFields: Table = {
  swagger: [1, string],
  info: [2, one(fieldsOf({
    title: [1, string], version: [2, string], description: [3, string], termsOfService: [4, string],
    contact: [5, one(fieldsOf({ name: [1, string], url: [2, string], email: [3, string] }, 4))],
    license: [6, one(fieldsOf({ name: [1, string], url: [2, string] }, 3))],
  }, 7))],
  host: [3, string],
  basePath: [4, string],
  schemes: [5, strings],
  consumes: [6, strings],
  produces: [7, strings],
  paths: [8, one(paths)],
  definitions: [9, map(schema)],
  parameters: [10, map(parameter)],
  responses: [11, map(response)],
  security: [12, security],
  tags: [14, many(fieldsOf({ name: [1, string], description: [2, string], externalDocs: [3, externalDocs] }, 4))],
  externalDocs: [15, externalDocs],
};

/** Paths: vendor extensions are field 1, each path a NamedPathItem in field 2. */
function paths(w: Writer, value: unknown, at: string): void {
  for (const [name, item] of Object.entries(record(value, at))) {
    if (name.startsWith('x-')) named(any)(w, 1, { [name]: item }, at);
    else named(fieldsOf(pathItemFields, 10))(w, 2, { [name]: item }, at);
  }
}

const operation = one(fieldsOf({
  tags: [1, strings], summary: [2, string], description: [3, string], externalDocs: [4, externalDocs],
  operationId: [5, string], produces: [6, strings], consumes: [7, strings],
  parameters: [8, many(parametersItem)], responses: [9, one(responses)], schemes: [10, strings],
  deprecated: [11, bool], security: [12, security],
}, 13));

const pathItemFields: Table = {
  $ref: [1, string], get: [2, operation], put: [3, operation], post: [4, operation], delete: [5, operation],
  options: [6, operation], head: [7, operation], patch: [8, operation], parameters: [9, many(parametersItem)],
};

const jsonReference = one(fieldsOf({ $ref: [1, string], description: [2, string] }));

/** ParametersItem: a JsonReference (2) or a Parameter (1). */
function parametersItem(w: Writer, value: unknown, at: string): void {
  if (Object.hasOwn(record(value, at), '$ref')) jsonReference(w, 2, value, at);
  else one(parameter)(w, 1, value, at);
}

/** The validations a non-body parameter, a header and PrimitivesItems share, numbered from `first`. */
function validations(first: number): Table {
  const keys = ['default', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength',
    'pattern', 'maxItems', 'minItems', 'uniqueItems', 'enum', 'multipleOf'] as const;
  const puts: Record<(typeof keys)[number], Put> = {
    default: one(any), maximum: double, exclusiveMaximum: bool, minimum: double, exclusiveMinimum: bool, maxLength: int64,
    minLength: int64, pattern: string, maxItems: int64, minItems: int64, uniqueItems: bool, enum: many(any), multipleOf: double,
  };
  return Object.fromEntries(keys.map((key, i) => [key, [first + i, puts[key]]]));
}

/** PrimitivesItems: type 1, format 2, items 3, collectionFormat 4, default 5 … multipleOf 17, extensions 18. */
function primitivesItems(w: Writer, value: unknown, at: string): void {
  fieldsOf({ type: [1, string], format: [2, string], items: [3, one(primitivesItems)], collectionFormat: [4, string], ...validations(5) }, 18)(w, value, at);
}

/** Header and path parameters: required 1, in 2, description 3, name 4, type 5, format 6, items 7, collectionFormat 8, default 9 … multipleOf 21, extensions 22. */
const headerOrPathParameter = fieldsOf({
  required: [1, bool], in: [2, string], description: [3, string], name: [4, string], type: [5, string], format: [6, string],
  items: [7, one(primitivesItems)], collectionFormat: [8, string], ...validations(9),
}, 22);

/** Query and formData parameters: as header ones with allowEmptyValue 5 and everything after it one further; extensions 23. */
const queryOrFormDataParameter = fieldsOf({
  required: [1, bool], in: [2, string], description: [3, string], name: [4, string], allowEmptyValue: [5, bool], type: [6, string],
  format: [7, string], items: [8, one(primitivesItems)], collectionFormat: [9, string], ...validations(10),
}, 23);

const nonBodyParameters: Record<string, readonly [number, Message]> = {
  header: [1, headerOrPathParameter], formData: [2, queryOrFormDataParameter], query: [3, queryOrFormDataParameter], path: [4, headerOrPathParameter],
};

/** Parameter: a BodyParameter (1) or a NonBodyParameter (2) holding the sub-schema of its `in`. */
function parameter(w: Writer, value: unknown, at: string): void {
  const where = record(value, at).in;
  if (where === 'body') {
    one(fieldsOf({ description: [1, string], name: [2, string], in: [3, string], required: [4, bool], schema: [5, one(schema)] }, 6))(w, 1, value, at);
    return;
  }
  const sub = typeof where === 'string' && Object.hasOwn(nonBodyParameters, where) ? nonBodyParameters[where] : undefined;
  if (sub === undefined) fail(`${at}.in`, 'is not body, header, formData, query or path');
  one((wn, v, a) => one(sub[1])(wn, sub[0], v, a))(w, 2, value, at);
}

/** Responses: each status code a NamedResponseValue (1), vendor extensions 2. */
function responses(w: Writer, value: unknown, at: string): void {
  for (const [code, v] of Object.entries(record(value, at))) {
    if (code.startsWith('x-')) named(any)(w, 2, { [code]: v }, at);
    else named(responseValue)(w, 1, { [code]: v }, at);
  }
}

/** ResponseValue: a JsonReference (2) or a Response (1). */
function responseValue(w: Writer, value: unknown, at: string): void {
  if (Object.hasOwn(record(value, at), '$ref')) jsonReference(w, 2, value, at);
  else one(response)(w, 1, value, at);
}

function response(w: Writer, value: unknown, at: string): void {
  fieldsOf({
    description: [1, string], schema: [2, one(schemaItem)],
    headers: [3, map(fieldsOf({ type: [1, string], format: [2, string], items: [3, one(primitivesItems)], collectionFormat: [4, string], ...validations(5), description: [18, string] }, 19))],
    examples: [4, map(any)],
  }, 5)(w, value, at);
}

/** SchemaItem: a FileSchema (2) when its type is file, else a Schema (1). */
function schemaItem(w: Writer, value: unknown, at: string): void {
  if (record(value, at).type !== 'file') { one(schema)(w, 1, value, at); return; }
  one(fieldsOf({
    format: [1, string], title: [2, string], description: [3, string], default: [4, one(any)], required: [5, strings],
    type: [6, string], readOnly: [7, bool], externalDocs: [8, externalDocs], example: [9, one(any)],
  }, 10))(w, 2, value, at);
}

/** TypeItem {1: repeated string}: a JSON type is one name or a list of them. */
const typeItem = one((w, value, at) => strings(w, 1, Array.isArray(value) ? value : [value], at));

/** ItemsItem {1: repeated Schema}: `items` is one schema or a list of them. */
const itemsItem = one((w, value, at) => many(schema)(w, 1, Array.isArray(value) ? value : [value], at));

/** AdditionalPropertiesItem: a Schema (1) or a boolean (2). */
const additionalProperties = one((w, value, at) => {
  if (typeof value === 'boolean') bool(w, 2, value, at);
  else one(schema)(w, 1, value, at);
});

function schema(w: Writer, value: unknown, at: string): void {
  fieldsOf({
    $ref: [1, string], format: [2, string], title: [3, string], description: [4, string], default: [5, one(any)],
    multipleOf: [6, double], maximum: [7, double], exclusiveMaximum: [8, bool], minimum: [9, double], exclusiveMinimum: [10, bool],
    maxLength: [11, int64], minLength: [12, int64], pattern: [13, string], maxItems: [14, int64], minItems: [15, int64],
    uniqueItems: [16, bool], maxProperties: [17, int64], minProperties: [18, int64], required: [19, strings], enum: [20, many(any)],
    additionalProperties: [21, additionalProperties], type: [22, typeItem], items: [23, itemsItem], allOf: [24, many(schema)],
    properties: [25, map(schema)], discriminator: [26, string], readOnly: [27, bool],
    xml: [28, one(fieldsOf({ name: [1, string], namespace: [2, string], prefix: [3, string], attribute: [4, bool], wrapped: [5, bool] }, 6))],
    externalDocs: [29, externalDocs], example: [30, one(any)],
  }, 31)(w, value, at);
}
