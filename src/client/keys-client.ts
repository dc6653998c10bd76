/**
 * The keys admin routes of ONE member (`/apis/coffer.dev/v1/keys`): key status and rotation are
 * member-local, so `coffer keys` asks every member itself rather than any endpoint that answers. No
 * failover and no retry: a rotation sent once is never sent again by this client. A refusal carries
 * the server's Status message (K8sApiError); the new KEK's bytes never appear in an error.
 */
import https from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import { clientResponseBytesMax, keysRequestTimeoutMs } from '../config/index.ts';
import { ClientError } from './errors.ts';
import { K8sApiError } from './k8s-client.ts';
import { httpsEndpoints } from './send-tracker.ts';

const keysPath = '/apis/coffer.dev/v1/keys';

/** What a member answers to GET /apis/coffer.dev/v1/keys (see api/admin/keys.ts). */
export interface MemberKeysView {
  member: string;
  kek: { source: string; description: string };
  activeDekId: number;
  deks: { id: number; createdAt: string; active: boolean; pages: number; walRecords: number; files: number }[];
  retired: { id: number; retiredAt: string }[];
  reencryption: {
    running: boolean; targetDekId: number; pagesResealed: number; pagesOnOlderDeks: number;
    startedAt?: string; finishedAt?: string; error?: string;
  };
}

export interface KeyRotationView {
  dekId?: number;
  kek?: { source: string; description: string };
  message: string;
}

export class MemberKeysClient {
  readonly endpoint: string;

  constructor(endpoint: string, private readonly tls: ConnectionOptions, private readonly timeoutMs = keysRequestTimeoutMs) {
    this.endpoint = httpsEndpoints([endpoint])[0]!;
  }

  async status(): Promise<MemberKeysView> {
    return (await this.request('GET', keysPath)) as MemberKeysView;
  }

  async rotateDek(): Promise<KeyRotationView> {
    return (await this.request('POST', `${keysPath}/rotate-dek`, {})) as KeyRotationView;
  }

  /** `unsealKey` is a key file's content (32 raw bytes or their base64); the caller wipes what it passed. */
  async rotateKek(next: { passphrase: Uint8Array } | { unsealKey: Uint8Array }): Promise<KeyRotationView> {
    const body = 'passphrase' in next ? { passphrase: Buffer.from(next.passphrase).toString('utf8') }
      : { unsealKey: Buffer.from(next.unsealKey).toString('base64') };
    return (await this.request('POST', `${keysPath}/rotate-kek`, body)) as KeyRotationView;
  }

  private request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const where = `${this.endpoint}${path}`;
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { accept: 'application/json' };
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = payload.length;
      }
      const request = https.request(where, { ...this.tls, method, headers, timeout: this.timeoutMs }, (response) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > clientResponseBytesMax) response.destroy(new ClientError('BAD_RESPONSE', `${where} answered more than ${clientResponseBytesMax} bytes`));
          else chunks.push(chunk);
        });
        response.on('error', (error) => reject(error instanceof ClientError ? error : new ClientError('CONNECTION_LOST', `${where}: ${error.message}`)));
        response.on('end', () => {
          let json: { message?: unknown; reason?: unknown; kind?: unknown } | null;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof json;
          } catch {
            reject(new ClientError('BAD_RESPONSE', `${where} answered ${response.statusCode ?? 0} without JSON`));
            return;
          }
          const code = response.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(json);
          else reject(new K8sApiError(typeof json?.reason === 'string' ? json.reason : 'Unknown', code, typeof json?.message === 'string' ? json.message : `${where} answered ${code}`));
        });
      });
      request.on('timeout', () => request.destroy(new ClientError('TIMEOUT', `${where} did not answer within ${this.timeoutMs} ms`)));
      request.on('error', (error) => reject(error instanceof ClientError ? error : new ClientError('UNAVAILABLE', `${where}: ${error.message}`)));
      request.end(payload);
    });
  }
}
