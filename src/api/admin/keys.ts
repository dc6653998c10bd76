/**
 * This member's encryption keys (`coffer keys …`), member-local like the snapshot route:
 *
 *   GET  /apis/coffer.dev/v1/keys             the member's KEK, DEKs, pages per DEK, re-encryption progress
 *   POST /apis/coffer.dev/v1/keys/rotate-dek  starts a new DEK and the background re-encryption; answers at once
 *   POST /apis/coffer.dev/v1/keys/rotate-kek  {"passphrase": "…"} | {"unsealKey": "<base64 of a key file's content>"}
 *                                             rewraps the member's keyring under the new KEK
 *
 * Administrators only: the caller must be in `system:masters`, whatever RBAC rules say. The new KEK's
 * bytes are copied out of the body into a buffer that is wiped once the keyring is rewritten; they are
 * never logged, never part of an answer or error, and never handed to the audit log (auditOmitBody).
 * JSON parsing leaves an unwipeable string copy of the body, as for every JSON API.
 */
import type { FastifyInstance } from 'fastify';
import type { MemberKeysStatus, NewKek } from '../../storage/barrier/index.ts';
import { status, type StatusObject } from '../k8s/status.ts';
import { type ApiRouteConfig, keyAdministration } from '../route-config.ts';

export const keysPath = '/apis/coffer.dev/v1/keys';

/** What the routes need from the member (storage/barrier's MemberKeys implements it). */
export interface KeysAdmin {
  status(): Promise<MemberKeysStatus>;
  rotateDek(): Promise<{ dekId: number }>;
  /** Rewraps the keyring under the new KEK; the caller wipes the buffer afterwards. */
  rotateKek(next: NewKek): Promise<{ kek: { source: string; description: string } }>;
}

/** Expected failures of a rotation that the caller can act on (bad key, too many DEKs): 422 with the message. */
const clientErrorCodes = new Set(['E_KEYRING', 'E_KEY_FILE', 'E_KMS']);

/** The keys routes, on `app` scoped under keysPath (plugin.ts). */
export function registerKeysRoutes(app: FastifyInstance, keys: KeysAdmin): void {
  const onlyMasters: { config: ApiRouteConfig } = { config: { mastersOnly: keyAdministration } };

  app.get('', onlyMasters, async (_request, reply) => {
    const body = await keys.status();
    return reply.header('cache-control', 'no-store').send({ kind: 'MemberKeys', apiVersion: 'coffer.dev/v1', ...body });
  });

  app.post('/rotate-dek', onlyMasters, async (request, reply) => {
    let dekId: number;
    try {
      ({ dekId } = await keys.rotateDek());
    } catch (error) {
      return reply.code(422).send(clientStatus(error));
    }
    request.log.info({ dekId }, 'DEK rotated; re-encryption started');
    return reply.send({
      kind: 'KeyRotation', apiVersion: 'coffer.dev/v1', dekId,
      message: `DEK ${dekId} is active; older pages are being re-encrypted in the background`,
    });
  });

  // The body carries the new KEK: it never reaches the audit log, whatever the audit policy's level.
  app.post('/rotate-kek', { config: { ...onlyMasters.config, auditOmitBody: true } satisfies ApiRouteConfig }, async (request, reply) => {
    const parsed = parseNewKek(request.body);
    if (typeof parsed === 'string') return reply.code(422).send(status(422, 'Invalid', parsed, { group: 'coffer.dev', kind: 'keys' }));
    const bytes = 'passphrase' in parsed ? parsed.passphrase : parsed.unsealKey;
    let kek: { source: string; description: string };
    try {
      ({ kek } = await keys.rotateKek(parsed));
    } catch (error) {
      return reply.code(422).send(clientStatus(error));
    } finally {
      bytes.fill(0);
    }
    request.log.info({ kekSource: kek.source }, 'KEK rotated');
    const startWith = 'passphrase' in parsed ? 'the new passphrase (--passphrase-file or COFFER_UNSEAL_PASSPHRASE)'
      : 'the new key file (--unseal-key-file)';
    return reply.send({
      kind: 'KeyRotation', apiVersion: 'coffer.dev/v1', kek,
      message: `the keyring is now sealed by the new KEK: start this member next time with ${startWith}; the old one no longer opens it`,
    });
  });
}

/** The new KEK from a rotate-kek body, or why the body is refused (never echoing its values). */
function parseNewKek(body: unknown): NewKek | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object with "passphrase" or "unsealKey"';
  const fields = Object.keys(body);
  const extra = fields.filter((f) => f !== 'passphrase' && f !== 'unsealKey');
  if (extra.length > 0) return `unknown field ${JSON.stringify(extra[0])}: the body holds exactly one of "passphrase" and "unsealKey"`;
  if (fields.length !== 1) return 'the body holds exactly one of "passphrase" and "unsealKey"';
  const { passphrase, unsealKey } = body as { passphrase?: unknown; unsealKey?: unknown };
  if (passphrase !== undefined) {
    if (typeof passphrase !== 'string' || passphrase.length === 0) return '"passphrase" must be a non-empty string';
    return { passphrase: new Uint8Array(Buffer.from(passphrase, 'utf8')) };
  }
  if (typeof unsealKey !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(unsealKey) || unsealKey.length % 4 !== 0) {
    return '"unsealKey" must be standard base64 of the key file\'s content';
  }
  return { unsealKey: new Uint8Array(Buffer.from(unsealKey, 'base64')) };
}

/** A crypto error a caller can fix, as a 422 Status (its message names sizes and ids, never key bytes); anything else is rethrown. */
function clientStatus(error: unknown): StatusObject {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && clientErrorCodes.has(code)) return status(422, 'Invalid', (error as Error).message, { group: 'coffer.dev', kind: 'keys' });
  throw error;
}
