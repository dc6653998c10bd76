/**
 * POSTs JSON to (or GETs JSON from) one of several endpoints over mutual TLS, with keep-alive connections, a per-request
 * deadline, and failover to the next endpoint when the current one cannot be reached.
 *
 * Failover rule (the reason this file exists): a request moves to the next endpoint only if it was
 * certainly never sent — the connection was refused or the TLS handshake did not complete. Once the
 * request may have reached a server, a failure is reported (TIMEOUT, CONNECTION_LOST) and not retried
 * elsewhere, because a retried write could apply twice and a retried compare-and-set could report
 * failure for a change it made itself. Idempotent requests (reads) may ask to be retried anyway.
 */
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { ConnectionOptions } from 'node:tls';
import {
  clientConnectTimeoutMsDefault, clientRequestTimeoutMsDefault, clientResponseBytesMax, clientSocketsPerEndpointMax,
} from '../config/index.ts';
import { keepAliveAgent } from './agent.ts';
import { bytesInWords } from './bytes.ts';
import { ClientError } from './errors.ts';
import { firstAnswer } from './failover.ts';
import { httpsEndpoints, SendTracker } from './send-tracker.ts';
import { checkTlsOptions } from './tls.ts';

export interface TransportOptions {
  /** Base URLs, `https://host:port`; tried in order starting from the last one that answered. */
  endpoints: readonly string[];
  /** cert, key and ca (or the output of pki's clientTlsOptions). */
  tls: ConnectionOptions;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  socketsPerEndpointMax?: number;
  /** The largest answer read (default clientResponseBytesMax). */
  responseBytesMax?: number;
}

export interface PostOptions {
  timeoutMs?: number;
  /** The request changes nothing, so it may be retried on another endpoint after it was sent. */
  idempotent?: boolean;
}

export class HttpsTransport {
  readonly endpoints: readonly string[];
  private readonly agent: https.Agent;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly responseBytesMax: number;
  /** Index of the endpoint that answered last; requests start there. Invariant: < endpoints.length. */
  private preferred = 0;

  constructor(options: TransportOptions) {
    this.endpoints = httpsEndpoints(options.endpoints);
    checkTlsOptions(options.tls);
    this.requestTimeoutMs = options.requestTimeoutMs ?? clientRequestTimeoutMsDefault;
    this.connectTimeoutMs = options.connectTimeoutMs ?? clientConnectTimeoutMsDefault;
    this.responseBytesMax = options.responseBytesMax ?? clientResponseBytesMax;
    this.agent = keepAliveAgent(options.tls, options.socketsPerEndpointMax ?? clientSocketsPerEndpointMax);
  }

  /** Sends `body` to `path` and returns the parsed JSON answer of a 2xx response. */
  post(path: string, body: unknown, options: PostOptions = {}): Promise<unknown> {
    return this.exchange('POST', path, Buffer.from(JSON.stringify(body)), options.timeoutMs, options.idempotent === true);
  }

  /** GETs `path` and returns the parsed JSON answer of a 2xx response (a GET changes nothing: idempotent). */
  get(path: string, options: Pick<PostOptions, 'timeoutMs'> = {}): Promise<unknown> {
    return this.exchange('GET', path, undefined, options.timeoutMs, true);
  }

  private async exchange(method: 'GET' | 'POST', path: string, payload: Buffer | undefined, timeoutMs: number | undefined, idempotent: boolean): Promise<unknown> {
    const deadline = Date.now() + (timeoutMs ?? this.requestTimeoutMs);
    const { value, index } = await firstAnswer(this.endpoints, (endpoint) => this.once(endpoint, method, path, payload, deadline), {
      start: this.preferred,
      deadline,
      retryable: (error) => error.code === 'UNAVAILABLE' || (idempotent && error.code === 'CONNECTION_LOST'),
      exhausted: () => new ClientError('UNAVAILABLE', `no endpoint answered ${path} before the deadline`, { endpoint: this.endpoints[this.preferred] }),
    });
    this.preferred = index;
    return value;
  }

  /**
   * POSTs `body` and returns the body of a 2xx answer as a byte stream (a snapshot), for answers too
   * large to hold. Failover as post(); the deadline covers the answer's headers, after which the
   * stream fails (CONNECTION_LOST) when no byte arrives for the request timeout.
   */
  async postStream(path: string, body: unknown, options: PostOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const payload = Buffer.from(JSON.stringify(body));
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const { value, index } = await firstAnswer(this.endpoints, async (endpoint) => ({
      endpoint, res: await this.openStream(endpoint, path, payload, Date.now() + timeoutMs),
    }), {
      start: this.preferred,
      retryable: (error) => error.code === 'UNAVAILABLE',
      exhausted: () => new ClientError('UNAVAILABLE', `no endpoint answered ${path}`, { endpoint: this.endpoints[this.preferred] }),
    });
    this.preferred = index;
    return guardStream(value.res, value.endpoint, path, timeoutMs);
  }

  private openStream(endpoint: string, path: string, payload: Buffer, deadline: number): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = https.request(`${endpoint}${path}`, {
        method: 'POST', agent: this.agent, headers: { 'content-type': 'application/json', 'content-length': payload.length },
      }, (res) => {
        clearTimeout(timer);
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve(res);
        else readBody(res, endpoint, path, this.responseBytesMax).then(() => reject(new ClientError('BAD_RESPONSE', `${endpoint}${path}: HTTP ${status}`, { endpoint, status })), reject);
      });
      const tracker = new SendTracker(req, undefined, () => undefined);
      const timer = setTimeout(() => {
        req.destroy();
        reject(tracker.timedOut(endpoint, `${endpoint}${path}`));
      }, Math.max(0, deadline - Date.now()));
      req.on('error', (cause: Error & { code?: string }) => {
        clearTimeout(timer);
        reject(tracker.lost(endpoint, `${endpoint}${path}`, cause));
      });
      req.end(payload);
    });
  }

  /** Closes idle keep-alive connections; in-flight requests finish. */
  close(): void {
    this.agent.destroy();
  }

  private once(endpoint: string, method: 'GET' | 'POST', path: string, payload: Buffer | undefined, deadline: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: ClientError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadlineTimer);
        tracker.stop();
        req.destroy();
        reject(error);
      };
      const req = https.request(`${endpoint}${path}`, {
        method,
        agent: this.agent,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': payload.length },
      }, (res) => {
        readBody(res, endpoint, path, this.responseBytesMax).then((answer) => {
          if (settled) return;
          settled = true;
          clearTimeout(deadlineTimer);
          resolve(answer);
        }, fail);
      });
      const tracker = new SendTracker(req, Math.min(this.connectTimeoutMs, Math.max(0, deadline - Date.now())), () =>
        fail(new ClientError('UNAVAILABLE', `${endpoint}: no TLS connection within ${this.connectTimeoutMs} ms`, { endpoint })));
      const deadlineTimer = setTimeout(() => fail(tracker.timedOut(endpoint, `${endpoint}${path}`)), Math.max(0, deadline - Date.now()));
      req.on('error', (cause: Error & { code?: string }) => fail(tracker.lost(endpoint, `${endpoint}${path}`, cause)));
      req.end(payload);
    });
  }

}

function readBody(res: IncomingMessage, endpoint: string, path: string, bytesMax: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > bytesMax) {
        res.destroy();
        reject(new ClientError('BAD_RESPONSE', `${endpoint}${path}: response larger than the ${bytesInWords(bytesMax)} limit`, { endpoint }));
        return;
      }
      chunks.push(chunk);
    });
    res.on('error', (cause) => reject(new ClientError('CONNECTION_LOST', `${endpoint}${path}: response cut off`, { endpoint, cause })));
    res.on('aborted', () => reject(new ClientError('CONNECTION_LOST', `${endpoint}${path}: response cut off`, { endpoint })));
    res.on('end', () => {
      const status = res.statusCode ?? 0;
      const textBody = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = textBody === '' ? {} : JSON.parse(textBody);
      } catch (cause) {
        const code = status >= 400 && status < 500 ? 'REJECTED' : status >= 500 ? 'SERVER' : 'BAD_RESPONSE';
        reject(new ClientError(code, `${endpoint}${path}: HTTP ${status}, body is not JSON`, { endpoint, status, cause }));
        return;
      }
      if (status >= 200 && status < 300) {
        resolve(json);
        return;
      }
      const { message, grpcCode } = errorBody(json);
      const code = status >= 400 && status < 500 ? 'REJECTED' : status >= 500 ? 'SERVER' : 'BAD_RESPONSE';
      reject(new ClientError(code, `${endpoint}${path}: HTTP ${status}: ${message}`, {
        endpoint, status, ...(grpcCode === undefined ? {} : { grpcCode }),
      }));
    });
  });
}

/** A response body as bytes; a stalled or broken stream ends with CONNECTION_LOST. */
async function* guardStream(res: IncomingMessage, endpoint: string, path: string, idleMs: number): AsyncGenerator<Uint8Array> {
  res.setTimeout(idleMs, () => res.destroy(new Error(`no data for ${idleMs} ms`)));
  let complete = false;
  res.once('end', () => { complete = true; });
  try {
    for await (const chunk of res) yield chunk as Buffer;
  } catch (cause) {
    throw new ClientError('CONNECTION_LOST', `${endpoint}${path}: the answer was cut off`, { endpoint, cause });
  }
  if (!complete && !res.complete) throw new ClientError('CONNECTION_LOST', `${endpoint}${path}: the answer was cut off`, { endpoint });
}

/** etcd's gateway error `{"error","code","message"}` (Coffer answers the same shape). */
function errorBody(json: unknown): { message: string; grpcCode?: number } {
  if (typeof json !== 'object' || json === null) return { message: 'no error message' };
  const body = json as Record<string, unknown>;
  const message = typeof body.message === 'string' ? body.message : typeof body.error === 'string' ? body.error : 'no error message';
  return typeof body.code === 'number' ? { message, grpcCode: body.code } : { message };
}
