/**
 * The client port: one TLS listener for both protocols Coffer speaks there, as etcd multiplexes its
 * port. HTTP/1.1 carries the Kubernetes API, the JSON gateway and everything else; HTTP/2 carries etcd's
 * gRPC API. ALPN decides per connection: a client that offers http/1.1 (kubectl, curl, browsers,
 * client-node) gets it; one that offers only h2 (every gRPC client: etcdctl, clientv3, grpc-js) gets
 * HTTP/2. Both reach the same fastify app, so the same gate and audit step; only the framing differs.
 *
 * How long a client may take, so slow clients cannot hold sockets forever (docs/security.md, "Slow
 * clients"): on HTTP/1.1 node enforces the header and request timeouts on its own schedule (every
 * apiTimeoutCheckIntervalMs) and answers 408 before the request reaches the API, and closes a connection
 * idle for apiKeepAliveTimeoutMs, a timeout every answer names (`Keep-Alive: timeout=N`) so that clients
 * drop an idle connection first. The server is made here (fastify's serverFactory), so these are set
 * on it here: fastify applies its own timeout options only to a server it makes itself. On HTTP/2 a
 * request other than a Watch or a LeaseKeepAlive must arrive whole within the same request timeout
 * (recorded and answered 408 if not) and its stream is cancelled once idle that long (holdToDeadlines),
 * a connection holds at most grpcStreamsPerConnectionMax streams, and a connection that holds no stream
 * is closed as HTTP/1.1's would be: apiHeadersTimeoutMs after the handshake until its first request's
 * headers are complete, apiKeepAliveTimeoutMs after its last stream ended. The handshake timeout comes
 * with the TLS options (pki's serverTlsOptions). No idle timeout is set on the socket: a watch stream
 * may be quiet for long.
 */
import { Server as HttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import {
  constants as http2, createServer as createHttp2Server, type Http2ServerRequest, type Http2ServerResponse, type Http2Session, type ServerHttp2Stream,
} from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TlsOptions, TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { pipelinedOverflowEvent, streamRequestTimeoutEvent } from '../api/index.ts';
import {
  apiHeadersTimeoutMs, apiKeepAliveTimeoutMs, apiPipelinedRequestsMax, apiRequestTimeoutMs, apiTimeoutCheckIntervalMs, grpcResetStreamsMax,
  grpcResetStreamsWindowMs, grpcStreamsPerConnectionMax,
} from '../config/index.ts';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

export interface ClientListenerOptions {
  https: TlsOptions & { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
  serverFactory: (handler: Handler) => HttpsServer;
}

/**
 * gRPC streams that are long-lived and quiet between messages, so never cancelled for idleness (etcd
 * cancels neither): a Watch waits for changes, and a LeaseKeepAlive for the client's next renewal
 * (clientv3 renews every TTL/3, over a minute for a lease of more than three).
 */
const quietStreamPaths: ReadonlySet<string> = new Set(['/etcdserverpb.Watch/Watch', '/etcdserverpb.Lease/LeaseKeepAlive']);

/** http/1.1 whenever the client offers it; h2 for clients that speak nothing else (gRPC). */
function chooseProtocol({ protocols }: { protocols: string[] }): string | undefined {
  if (protocols.includes('http/1.1')) return 'http/1.1';
  return protocols.includes('h2') ? 'h2' : undefined;
}

/**
 * Ends an HTTP/2 session while it holds no stream: by apiHeadersTimeoutMs after it began unless a request
 * completed its headers (a silent client, a preface alone, a header block that never ends: node opens a
 * stream only once its headers are complete), and by apiKeepAliveTimeoutMs after its last stream ended,
 * with a GOAWAY so that a client's request crossing it is retried, as HTTP/1.1's keep-alive timeout closes
 * an idle connection. Pings and settings do not count: they would keep a session open for ever. A
 * session ended because a request's headers did not arrive in time is handed to `timedOut` (the client
 * port's `clientError`, which records it as HTTP/1.1's 408 is recorded and then ends it).
 */
function closeWhileStreamless(session: Http2Session, timedOut: () => void): void {
  let streams = 0;
  let timer: NodeJS.Timeout | undefined;
  const endAfter = (ms: number, end: () => void) => {
    timer = setTimeout(end, ms);
    timer.unref();
  };
  endAfter(apiHeadersTimeoutMs, timedOut);
  session.on('stream', (stream: ServerHttp2Stream) => {
    streams++;
    clearTimeout(timer);
    stream.once('close', () => {
      if (--streams > 0 || session.destroyed) return;
      endAfter(apiKeepAliveTimeoutMs, () => {
        session.close();
        // A header block still open when the GOAWAY left keeps the session from closing by itself.
        endAfter(apiHeadersTimeoutMs, timedOut);
      });
    });
  });
  session.once('close', () => clearTimeout(timer));
}

/**
 * Holds an HTTP/2 request (a stream other than a Watch or a LeaseKeepAlive) to HTTP/1.1's deadlines. The
 * client must have sent all of it (its END_STREAM) within `timeoutMs` of its headers, however it trickles
 * its body; one that has not is handed to `timedOut` (the API records it and answers 408, as node does for
 * HTTP/1.1). A stream idle for `timeoutMs` once its request has arrived — its answer not read, or not
 * written — is cancelled: its route recorded it.
 */
function holdToDeadlines(stream: ServerHttp2Stream, timeoutMs: number, timedOut: () => void): void {
  const received = (): boolean => stream.state.remoteClose === 1;
  let expired = false;
  const expire = (): void => {
    if (expired || stream.destroyed) return;
    expired = true;
    if (received()) stream.close(http2.NGHTTP2_CANCEL);
    else timedOut();
  };
  const deadline = setTimeout(() => {
    if (!received()) expire();
  }, timeoutMs);
  deadline.unref();
  stream.once('close', () => clearTimeout(deadline));
  stream.setTimeout(timeoutMs, expire);
}

/**
 * Calls `flood` (once) when the client of `session` resets more than grpcResetStreamsMax streams
 * before their answer within grpcResetStreamsWindowMs: a client that opens streams only to reset them
 * makes the member take requests it never reads.
 */
function countingResets(session: Http2Session, flood: () => void): void {
  const resets: number[] = [];
  session.on('stream', (stream: ServerHttp2Stream) => {
    stream.once('aborted', () => {
      const now = performance.now();
      resets.push(now);
      while (resets[0]! < now - grpcResetStreamsWindowMs) resets.shift();
      if (resets.length === grpcResetStreamsMax + 1) flood();
    });
  });
}

/**
 * Serves at most apiPipelinedRequestsMax requests of one HTTP/1.1 connection at once. node hands over
 * every request it parses from what it read, pipelined or not, and stops reading a connection only once
 * its answers back up — which answers still being worked on never do — and reads on as each request ends.
 * So a client writing requests without reading had every one of them served at once (20,000 on one
 * connection: +264 MiB, the member stalled up to 1 s; 50 connections: +1.9 GiB, 67 s). Here, once a
 * connection has that many in flight it is not read (node's own resumes wait too: readingGate) until one
 * ends; the requests node had already parsed from the last read beyond the limit are handed to `refuse`
 * (the API records each and answers it 429 in its turn: no route, no handler). A client with twice the
 * limit in flight is not waiting for answers: its connection is closed after the refusal that reached
 * it (recorded, saying so), and what node parses of it afterwards is neither served nor answered —
 * one read's worth, which a refusal each would make the flood's cost again.
 */
function servingPipelined(handler: Handler, refuse: (request: IncomingMessage, response: ServerResponse, closing: boolean) => void): Handler {
  const gates = new WeakMap<Socket, ReadingGate>();
  return (request, response) => {
    const socket = request.socket;
    if (socket.destroyed) {
      response.destroy();
      return;
    }
    let gate = gates.get(socket);
    if (gate === undefined) gates.set(socket, (gate = readingGate(socket)));
    const inFlight = ++gate.inFlight;
    response.once('close', () => {
      if (--gate.inFlight < apiPipelinedRequestsMax) gate.open();
    });
    if (inFlight >= apiPipelinedRequestsMax) gate.close();
    if (inFlight <= apiPipelinedRequestsMax) {
      handler(request, response);
      return;
    }
    const closing = inFlight >= 2 * apiPipelinedRequestsMax;
    refuse(request, response, closing);
    if (closing) socket.destroy();
  };
}

interface ReadingGate {
  inFlight: number;
  close(): void;
  open(): void;
}

/**
 * Stops and resumes reading `socket`; while closed, resumes asked by anyone else (node's, as each request
 * ends) wait for it to open. (node still pauses a connection whose answers back up: its own resume check
 * re-pauses it.)
 */
function readingGate(socket: Socket): ReadingGate {
  const resume = socket.resume.bind(socket);
  let closed = false;
  socket.resume = () => {
    if (!closed) resume();
    return socket;
  };
  return {
    inFlight: 0,
    close: () => {
      if (closed) return;
      closed = true;
      socket.pause();
    },
    open: () => {
      if (!closed) return;
      closed = false;
      resume();
    },
  };
}

/** The HTTPS server of the client port, handing HTTP/2 connections to an HTTP/2 server with the same handler. */
class ClientPortServer extends HttpsServer {
  private readonly sessions = new Set<Http2Session>();

  constructor(options: HttpsServerOptions, handler: Handler) {
    super({ ...options, ALPNCallback: chooseProtocol }, servingPipelined(handler, (request, response, closing) => {
      // Recorded and refused by the API (client-error.ts); with nobody to record it, just refused.
      if (!this.emit(pipelinedOverflowEvent, request, response, closing)) response.writeHead(429).end();
    }));
    this.keepAliveTimeout = apiKeepAliveTimeoutMs;
    // One request deadline for both protocols: node's for HTTP/1.1, holdToDeadlines' for HTTP/2.
    const requestTimeoutMs = options.requestTimeout ?? apiRequestTimeoutMs;
    const h2 = createHttp2Server({ settings: { maxConcurrentStreams: grpcStreamsPerConnectionMax } }, ((request: Http2ServerRequest, response: Http2ServerResponse) => {
      // Served once the rest of what the client sent with it is read: a stream it reset in the same
      // breath (a rapid reset flood) is not served at all (countingResets counts it).
      setImmediate(() => {
        if (request.stream.destroyed) return;
        if (!quietStreamPaths.has(request.headers[':path'] ?? '')) {
          holdToDeadlines(request.stream, requestTimeoutMs, () => {
            // Recorded and answered 408 by the API (client-error.ts); with nobody to record it, just ended.
            if (!this.emit(streamRequestTimeoutEvent, request, response)) request.stream.close(http2.NGHTTP2_CANCEL);
          });
        }
        handler(request as never, response as never);
      });
    }) as never);
    // What the HTTP/2 server would answer itself (an expectation, CONNECT) goes to this server's
    // listeners, as HTTP/1.1's does: the API records and answers it (src/api/client-error.ts).
    h2.on('checkExpectation', (request, response) => this.emit('checkExpectation', request, response));
    h2.on('connect', (request, response) => this.emit('connect', request, response));
    const http1 = this.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
    this.removeAllListeners('secureConnection');
    this.on('secureConnection', (socket: TLSSocket) => {
      if (socket.destroyed) return;
      if (socket.alpnProtocol === 'h2') {
        // As node's HTTP server does for its own connections: a small answer leaves at once (no Nagle delay).
        socket.setNoDelay(true);
        // node makes the connection's session and announces it before emit returns.
        const adopt = (session: Http2Session) => this.adopt(session, socket);
        h2.once('session', adopt);
        h2.emit('connection', socket);
        h2.off('session', adopt);
      }
      else for (const listener of http1) listener.call(this, socket);
    });
  }

  private adopt(session: Http2Session, socket: TLSSocket): void {
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    // Reported as node reports an HTTP/1.1 connection it refuses, with the connection itself (the
    // session's own socket is a guard that cannot be closed): the API records it and closes the
    // connection; with nobody to record it, the session is just ended.
    const refuse = (message: string, code: string): void => {
      if (!this.emit('clientError', Object.assign(new Error(message), { code }), socket)) session.destroy();
    };
    closeWhileStreamless(session, () => refuse('the request was not received in time', 'ERR_HTTP_REQUEST_TIMEOUT'));
    countingResets(session, () => refuse(`more than ${grpcResetStreamsMax} streams reset by the client`, 'ERR_HTTP2_STREAM_RESETS'));
    // node ends a session that breaks the protocol (a CONTINUATION, SETTINGS or PING flood, invalid
    // frames) with an error carrying nghttp2's fixed reason: recorded as HTTP/1.1's unparsable requests
    // are. By then the connection is closed and would no longer say whose certificate it had; a
    // connection's certificate cannot change, so it keeps telling what it told at the handshake.
    const peer = socket.getPeerCertificate(true);
    socket.getPeerCertificate = () => peer;
    session.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code?.startsWith('ERR_HTTP2_') === true) refuse(error.message, error.code);
    });
  }

  /** Stops accepting; HTTP/2 connections are asked to finish (GOAWAY) like idle HTTP/1.1 ones are closed. */
  override close(callback?: (error?: Error) => void): this {
    for (const session of this.sessions) session.close();
    return super.close(callback);
  }
}

export function clientListenerOptions(tls: TlsOptions): ClientListenerOptions {
  const https = { ...tls, headersTimeout: apiHeadersTimeoutMs, requestTimeout: apiRequestTimeoutMs, connectionsCheckingInterval: apiTimeoutCheckIntervalMs };
  return {
    https,
    serverFactory: (handler) => new ClientPortServer(https, handler),
  };
}
