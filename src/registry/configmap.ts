/**
 * ConfigMap bodies with Kubernetes' rules: `data` (UTF-8 strings) and `binaryData` (base64) under
 * config keys, no key in both, at most objectBytesMax bytes together (and objectMapEntriesMax entries
 * with the labels and annotations: map-entries.ts); `immutable`.
 */
import { objectBytesMax } from '../config/index.ts';
import type { StatusCause } from './errors.ts';
import { configMapKeyErrors } from './names.ts';
import { isJson, type Json, stringMap } from './object.ts';
import { isBase64 } from './secret.ts';

export function configMapBody(input: Json, causes: StatusCause[]): Json {
  const data = stringMap(input.data, 'data', causes);
  const binaryData = stringMap(input.binaryData, 'binaryData', causes);
  let bytes = 0;
  for (const [key, value] of Object.entries(data ?? {})) {
    for (const e of configMapKeyErrors(key)) causes.push({ field: `data[${key}]`, message: `Invalid value: ${JSON.stringify(key)}: ${e}`, reason: 'FieldValueInvalid' });
    bytes += key.length + Buffer.byteLength(value);
  }
  for (const [key, value] of Object.entries(binaryData ?? {})) {
    for (const e of configMapKeyErrors(key)) causes.push({ field: `binaryData[${key}]`, message: `Invalid value: ${JSON.stringify(key)}: ${e}`, reason: 'FieldValueInvalid' });
    if (!isBase64(value)) causes.push({ field: `binaryData[${key}]`, message: 'must be a base64-encoded string', reason: 'FieldValueInvalid' });
    // An own key only: data["__proto__"] of a data map without that key would be Object.prototype.
    if (data !== undefined && Object.hasOwn(data, key)) causes.push({ field: `data[${key}]`, message: `Invalid value: ${JSON.stringify(key)}: duplicate of key present in binaryData`, reason: 'FieldValueDuplicate' });
    bytes += key.length + Math.floor((value.length * 3) / 4);
  }
  if (bytes > objectBytesMax) causes.push({ field: 'data', message: `Too long: must have at most ${objectBytesMax} bytes`, reason: 'FieldValueTooLong' });
  const immutable = input.immutable;
  if (immutable !== undefined && immutable !== null && typeof immutable !== 'boolean') causes.push({ field: 'immutable', message: 'must be a boolean', reason: 'FieldValueInvalid' });
  const body: Json = {};
  if (data !== undefined) body.data = data;
  if (binaryData !== undefined) body.binaryData = binaryData;
  if (typeof immutable === 'boolean') body.immutable = immutable;
  return body;
}

export function projectConfigMap(body: Json): Json {
  const out: Json = {};
  if (isJson(body.data)) out.data = { ...(body.data as Record<string, string>) };
  if (isJson(body.binaryData)) out.binaryData = { ...(body.binaryData as Record<string, string>) };
  if (typeof body.immutable === 'boolean') out.immutable = body.immutable;
  return out;
}
