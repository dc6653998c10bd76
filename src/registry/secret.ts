/**
 * Secret bodies with Kubernetes' rules: `data` holds base64 values under config keys; `stringData`
 * is merged into `data` on write (a key in both takes the stringData value) and never stored or
 * returned; `type` (default Opaque) fixes which keys must be present; the decoded data may take at
 * most objectBytesMax bytes (and objectMapEntriesMax entries with the labels and annotations:
 * map-entries.ts). Decoded values are wiped once checked.
 */
import { objectBytesMax } from '../config/index.ts';
import type { StatusCause } from './errors.ts';
import { mapEntriesCause } from './map-entries.ts';
import { configMapKeyErrors, hasControlCharacter } from './names.ts';
import { isJson, type Json, stringMap } from './object.ts';

const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const secretTypes = {
  opaque: 'Opaque',
  tls: 'kubernetes.io/tls',
  basicAuth: 'kubernetes.io/basic-auth',
  dockerConfigJson: 'kubernetes.io/dockerconfigjson',
  dockerCfg: 'kubernetes.io/dockercfg',
  sshAuth: 'kubernetes.io/ssh-auth',
  serviceAccountToken: 'kubernetes.io/service-account-token',
} as const;

export function isBase64(value: string): boolean {
  return base64Pattern.test(value);
}

export function secretBody(input: Json, causes: StatusCause[]): Json {
  const type = input.type === undefined || input.type === null || input.type === '' ? secretTypes.opaque : input.type;
  if (typeof type !== 'string') causes.push({ field: 'type', message: 'must be a string', reason: 'FieldValueInvalid' });
  const data = new Map<string, string>();
  const rawData = input.data;
  if (rawData !== undefined && rawData !== null) {
    const tooMany = isJson(rawData) ? mapEntriesCause('data', Object.keys(rawData).length) : undefined;
    if (!isJson(rawData)) causes.push({ field: 'data', message: 'must be an object of base64 strings', reason: 'FieldValueInvalid' });
    else if (tooMany !== undefined) causes.push(tooMany);
    else {
      for (const [key, value] of Object.entries(rawData)) {
        for (const e of configMapKeyErrors(key)) causes.push({ field: `data[${key}]`, message: `Invalid value: ${JSON.stringify(key)}: ${e}`, reason: 'FieldValueInvalid' });
        if (value === null) data.set(key, '');
        else if (typeof value !== 'string' || !isBase64(value)) causes.push({ field: `data[${key}]`, message: 'must be a base64-encoded string', reason: 'FieldValueInvalid' });
        else data.set(key, value);
      }
    }
  }
  const stringData = stringMap(input.stringData, 'stringData', causes);
  for (const [key, value] of Object.entries(stringData ?? {})) {
    for (const e of configMapKeyErrors(key)) causes.push({ field: `stringData[${key}]`, message: `Invalid value: ${JSON.stringify(key)}: ${e}`, reason: 'FieldValueInvalid' });
    data.set(key, Buffer.from(value, 'utf8').toString('base64'));
  }
  const immutable = input.immutable;
  if (immutable !== undefined && immutable !== null && typeof immutable !== 'boolean') causes.push({ field: 'immutable', message: 'must be a boolean', reason: 'FieldValueInvalid' });

  let bytes = 0;
  for (const [key, value] of data) bytes += key.length + Math.floor((value.length * 3) / 4);
  if (bytes > objectBytesMax) causes.push({ field: 'data', message: `Too long: must have at most ${objectBytesMax} bytes`, reason: 'FieldValueTooLong' });
  if (typeof type === 'string') checkType(type, data, causes);

  const body: Json = { type };
  if (data.size > 0) body.data = Object.fromEntries(data);
  if (typeof immutable === 'boolean') body.immutable = immutable;
  return body;
}

function checkType(type: string, data: ReadonlyMap<string, string>, causes: StatusCause[]): void {
  const required = (key: string) => {
    if (!data.has(key)) causes.push({ field: `data[${key}]`, message: `Required value`, reason: 'FieldValueRequired' });
  };
  switch (type) {
    case secretTypes.tls:
      required('tls.crt');
      required('tls.key');
      break;
    case secretTypes.basicAuth:
      if (!data.has('username') && !data.has('password')) {
        causes.push({ field: 'data[username]', message: 'Required value: username or password must be set for a kubernetes.io/basic-auth Secret', reason: 'FieldValueRequired' });
      }
      break;
    case secretTypes.sshAuth:
      required('ssh-privatekey');
      break;
    case secretTypes.dockerConfigJson:
      checkJsonKey('.dockerconfigjson', data, causes);
      break;
    case secretTypes.dockerCfg:
      checkJsonKey('.dockercfg', data, causes);
      break;
    case secretTypes.serviceAccountToken:
      causes.push({ field: 'type', message: 'Unsupported value: "kubernetes.io/service-account-token": Coffer has no service accounts', reason: 'FieldValueNotSupported' });
      break;
    default:
      if (type.length > 253 || hasControlCharacter(type)) causes.push({ field: 'type', message: 'must be at most 253 printable characters', reason: 'FieldValueInvalid' });
  }
}

/**
 * Keys of which a type's rules ask for any one (kubernetes.io/basic-auth: username or password). A valid
 * Secret of the type holds at least one, but a caller who may not get it cannot tell which: a write that
 * removes one would be valid or not by whether the other is there. registry.ts (refuseBlindKeyOracle)
 * answers such a write the same whichever it holds.
 */
export function alternativeKeys(type: unknown): readonly string[] {
  return type === secretTypes.basicAuth ? ['username', 'password'] : [];
}

/** Whether a Secret body, as a write sends it, holds one of `keys` (in data — a null value is an empty one — or in stringData). */
export function holdsOneOf(body: Json, keys: readonly string[]): boolean {
  const has = (field: unknown, key: string): boolean => isJson(field) && Object.hasOwn(field, key);
  return keys.some((key) => has(body.data, key) || has(body.stringData, key));
}

function checkJsonKey(key: string, data: ReadonlyMap<string, string>, causes: StatusCause[]): void {
  const value = data.get(key);
  if (value === undefined) {
    causes.push({ field: `data[${key}]`, message: 'Required value', reason: 'FieldValueRequired' });
    return;
  }
  const decoded = Buffer.from(value, 'base64');
  try {
    JSON.parse(decoded.toString('utf8'));
  } catch {
    // The parser's message could quote the secret content: say only that it is not JSON.
    causes.push({ field: `data[${key}]`, message: 'Invalid value: <secret contents redacted>: must be valid JSON', reason: 'FieldValueInvalid' });
  } finally {
    decoded.fill(0);
  }
}

export function projectSecret(body: Json): Json {
  const out: Json = {};
  if (typeof body.type === 'string') out.type = body.type;
  if (isJson(body.data)) out.data = { ...(body.data as Record<string, string>) };
  if (typeof body.immutable === 'boolean') out.immutable = body.immutable;
  return out;
}
