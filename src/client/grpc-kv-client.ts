/**
 * GrpcKvClient: etcd 3.4's KV calls over gRPC (the wire contract in src/etcdpb), one HTTP/2 connection
 * to one endpoint carrying every concurrent call, as etcd's own clients do. It serves the benchmark,
 * which drives Coffer and etcd through it alike; it is not a full etcd client (no failover, no watch).
 * Failures are ClientErrors: a gRPC status other than OK is REJECTED (or SERVER for UNAVAILABLE and
 * internal codes), a broken connection CONNECTION_LOST; messages carry the status, never a value.
 */
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { decode, encode, FrameReader, frame, type Message, messageType } from '../etcdpb/index.ts';
import { type Bytes, toBytes } from './bytes.ts';
import { ClientError } from './errors.ts';

const serverCodes = new Set([4, 13, 14]);

export interface GrpcKvClientOptions {
  /** One https:// URL. */
  endpoint: string;
  tls: ConnectionOptions;
  /** Deadline of each call (also sent as grpc-timeout). */
  requestTimeoutMs: number;
}

export class GrpcKvClient {
  private readonly session: ClientHttp2Session;

  constructor(private readonly options: GrpcKvClientOptions) {
    const url = new URL(options.endpoint);
    // Its own TLS socket, so Nagle's delay can be turned off (an HTTP/2 session's socket may not be touched).
    this.session = connect(options.endpoint, {
      createConnection: () => {
        const socket = tlsConnect({ ...options.tls, host: url.hostname, port: Number(url.port), ...(isIP(url.hostname) === 0 ? { servername: url.hostname } : {}), ALPNProtocols: ['h2'] });
        socket.setNoDelay(true);
        return socket;
      },
    });
    this.session.on('error', () => { /* each call reports its own failure */ });
  }

  async put(key: Bytes, value: Bytes): Promise<Message> {
    return this.call('KV/Put', 'PutRequest', 'PutResponse', { key: toBytes(key), value: toBytes(value) });
  }

  async range(key: Bytes, options: { serializable?: boolean } = {}): Promise<Message> {
    return this.call('KV/Range', 'RangeRequest', 'RangeResponse', { key: toBytes(key), serializable: options.serializable === true });
  }

  close(): void {
    this.session.close();
  }

  private call(method: string, requestType: string, responseType: string, fields: Message): Promise<Message> {
    const endpoint = this.options.endpoint;
    return new Promise((resolve, reject) => {
      const stream = this.session.request({
        [constants.HTTP2_HEADER_METHOD]: 'POST', [constants.HTTP2_HEADER_PATH]: `/etcdserverpb.${method}`,
        'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': `${this.options.requestTimeoutMs}m`,
      });
      const reader = new FrameReader();
      const messages: Uint8Array[] = [];
      stream.setTimeout(this.options.requestTimeoutMs, () => stream.close(constants.NGHTTP2_CANCEL));
      stream.on('data', (chunk: Buffer) => messages.push(...reader.push(chunk)));
      stream.on('trailers', (trailers: IncomingHttpHeaders) => {
        const status = Number(trailers['grpc-status'] ?? 2);
        if (status === 0 && messages.length === 1) {
          resolve(decode(messageType(responseType), messages[0]!));
          return;
        }
        const message = decodeURIComponent(String(trailers['grpc-message'] ?? ''));
        reject(new ClientError(serverCodes.has(status) ? 'SERVER' : 'REJECTED', `${endpoint}: gRPC status ${status}${message === '' ? '' : `: ${message}`}`, { endpoint, grpcCode: status }));
      });
      stream.on('close', () => reject(new ClientError('CONNECTION_LOST', `${endpoint}: the call ended without a status`, { endpoint })));
      stream.on('error', (cause: Error) => reject(new ClientError('CONNECTION_LOST', `${endpoint}: the call failed`, { endpoint, cause })));
      stream.end(frame(encode(messageType(requestType), fields)));
    });
  }
}
